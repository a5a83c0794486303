/**
 * Dashboard view 7: the in-browser attack demo (`/demo`, issue 23). Serves the page (built by
 * scripts/build-demo-ui.mjs into dist/dashboard-ui/assets/demo; its script, stylesheet and the
 * tfjs-backend-wasm binaries are served by the dashboard's /assets route), the default model's files, the
 * test films as signed PNGs and the two verifications (original file; tampered pixels under the original
 * signature). All GET, all read-only; the logic lives in src/api/browser-demo.ts.
 *
 *   GET /demo                         the page (its CSP adds 'wasm-unsafe-eval' for the wasm backend)
 *   GET /demo/model/<model.json|model-card.json|weight shard>
 *   GET /api/demo/films               {classes, height, width, dataset, scanner, films:[{index,label,className}]}
 *   GET /api/demo/films/<i>.png       the signed film
 *   GET /api/demo/films/<i>/verify[?pixels=<base64url of H×W uint8>]
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { openDemo, readDemoModelFile, type Demo } from '../../api/browser-demo.js';
import { MedshieldError } from '../../errors.js';
import { PACKAGE_ROOT } from '../../version.js';
import { CSP } from '../plugins/security.js';
import type { DashboardContext } from '../context.js';

/** The dashboard's policy plus WebAssembly compilation (tfjs-backend-wasm), on the demo page only. */
const DEMO_CSP = CSP.replace("script-src 'self'", "script-src 'self' 'wasm-unsafe-eval'");

function send(reply: FastifyReply, e: unknown): FastifyReply {
  if (e instanceof MedshieldError) {
    const code = e.code === 'NOT_FOUND' ? 404 : e.code === 'BAD_ARGUMENT' || e.code === 'BAD_INPUT' ? 400 : 500;
    return reply.code(code).send({
      statusCode: code,
      error: code === 404 ? 'Not Found' : code === 400 ? 'Bad Request' : 'Internal Server Error',
      message: e.message,
    });
  }
  throw e;
}

export default async function demoRoutes(
  app: FastifyInstance,
  opts: { ctx?: Pick<DashboardContext, 'uiDir'> },
): Promise<void> {
  const html = path.join(
    opts.ctx?.uiDir ?? path.join(PACKAGE_ROOT, 'dist', 'dashboard-ui'),
    'assets',
    'demo',
    'demo.html',
  );
  let demo: Promise<Demo> | null = null;
  const open = (): Promise<Demo> =>
    (demo ??= openDemo().catch((e) => {
      demo = null;
      throw e;
    }));
  const hide = { schema: { hide: true } };

  app.get('/demo', hide, async (_req, reply) => {
    let b: Buffer;
    try {
      b = readFileSync(html);
    } catch {
      return reply.code(503).send({
        statusCode: 503,
        error: 'Service Unavailable',
        message: 'the demo page is not built (run: node scripts/build-demo-ui.mjs)',
      });
    }
    return reply.header('content-security-policy', DEMO_CSP).type('text/html; charset=utf-8').send(b);
  });
  app.get<{ Params: { name: string } }>('/demo/model/:name', hide, async (req, reply) => {
    const b = readDemoModelFile(await open(), req.params.name);
    if (!b)
      return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: 'not a file of the default model' });
    reply.header('cache-control', 'private, max-age=3600');
    return reply
      .type(req.params.name.endsWith('.json') ? 'application/json; charset=utf-8' : 'application/octet-stream')
      .send(b);
  });
  app.get(
    '/api/demo/films',
    { schema: { summary: "The in-browser demo's test films (index, label)", tags: ['demo'] } },
    async () => {
      const d = await open();
      return {
        classes: d.classes,
        height: d.height,
        width: d.width,
        dataset: d.dataset,
        scanner: d.scanner,
        films: d.films(),
      };
    },
  );
  app.get<{ Params: { file: string } }>('/api/demo/films/:file', hide, async (req, reply) => {
    const m = /^(\d{1,6})\.png$/.exec(req.params.file);
    if (!m)
      return reply
        .code(404)
        .send({ statusCode: 404, error: 'Not Found', message: 'films are /api/demo/films/<index>.png' });
    let png: Buffer;
    try {
      png = (await open()).signedPng(Number(m[1]));
    } catch (e) {
      return send(reply, e);
    }
    return reply.type('image/png').send(png);
  });
  app.get<{ Params: { index: string }; Querystring: { pixels?: string } }>(
    '/api/demo/films/:index/verify',
    {
      schema: {
        summary:
          "Verify a demo film's signature: original file, or tampered " +
          'pixels (?pixels=base64url) under the original signature',
        tags: ['demo'],
      },
    },
    async (req, reply) => {
      if (!/^\d{1,6}$/.test(req.params.index))
        return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: 'no such film' });
      const q = req.query.pixels;
      if (q !== undefined && (typeof q !== 'string' || !/^[A-Za-z0-9_-]{1,8192}$/.test(q))) {
        return reply.code(400).send({
          statusCode: 400,
          error: 'Bad Request',
          message: "pixels must be base64url (the film's grey levels, one byte each)",
        });
      }
      try {
        return await (await open()).verify(
          Number(req.params.index),
          q === undefined ? undefined : new Uint8Array(Buffer.from(q, 'base64url')),
        );
      } catch (e) {
        return send(reply, e);
      }
    },
  );
}
