/**
 * The page shell and the bundled front end (dist/dashboard-ui, built by scripts/build-dashboard.mjs).
 * Files are read once at start-up into memory and served by exact name: no path is ever joined from a URL.
 * Each view's route plugin calls `page(app, ctx, '/its/path')` for the page URLs it owns; the browser app
 * (web/dashboard) routes on the path.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { notFound } from '../errors.js';
import type { DashboardContext } from './context.js';

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.map': 'application/json',
  '.bin': 'application/octet-stream',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};

export interface UiFiles {
  index: Buffer;
  assets: Map<string, { body: Buffer; type: string; etag: string }>;
}

/** Read the built front end; a clear error when it has not been built. */
export function loadUi(dir: string): UiFiles {
  const indexFile = path.join(dir, 'index.html');
  if (!existsSync(indexFile))
    throw notFound(`dashboard front end not built: ${indexFile} is missing (run npm run build)`);
  const assets = new Map<string, { body: Buffer; type: string; etag: string }>();
  const walk = (d: string, prefix: string): void => {
    for (const e of readdirSync(d)) {
      const f = path.join(d, e);
      if (statSync(f).isDirectory()) walk(f, `${prefix}${e}/`);
      else if (TYPES[path.extname(e)]) {
        const body = readFileSync(f);
        assets.set(`${prefix}${e}`, {
          body,
          type: TYPES[path.extname(e)],
          etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
        });
      }
    }
  };
  if (existsSync(path.join(dir, 'assets'))) walk(path.join(dir, 'assets'), '');
  return { index: readFileSync(indexFile), assets };
}

const uiCache = new WeakMap<DashboardContext, UiFiles>();
function ui(ctx: DashboardContext): UiFiles {
  let u = uiCache.get(ctx);
  if (!u) {
    u = loadUi(ctx.uiDir);
    uiCache.set(ctx, u);
  }
  return u;
}

/** Serve the page shell at `url` (a Fastify route pattern such as '/campaigns/:id'). */
export function page(app: FastifyInstance, ctx: DashboardContext, url: string): void {
  app.get(url, { schema: { hide: true } }, async (_req, reply) =>
    reply.type('text/html; charset=utf-8').send(ui(ctx).index),
  );
}

/** GET /assets/* — the bundle, its stylesheet and any other built file, by exact name. */
export async function assetsRoute(app: FastifyInstance, opts: { ctx: DashboardContext }): Promise<void> {
  app.get('/assets/*', { schema: { hide: true } }, async (req, reply) => {
    const name = (req.params as { '*': string })['*'];
    const a = ui(opts.ctx).assets.get(name);
    if (!a)
      return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no asset '${name.slice(0, 80)}'` });
    // Revalidated on every use (no-cache) but sent again only when the build changed (ETag).
    reply.header('cache-control', 'no-cache').header('etag', a.etag);
    if (req.headers['if-none-match'] === a.etag) return reply.code(304).send();
    return reply.type(a.type).send(a.body);
  });
}
