/**
 * The plain model endpoint black-box attacks query (`medshield target serve`): the "vendor API" of
 * tests and demos, served by the same HTTP stack as the hardened gateway (Fastify, our own server with
 * slow-client timeouts, one JSON error shape per status) — one model-serving HTTP implementation, two
 * sets of routes. Unlike the gateway (`medshield serve`) it verifies no signature and keeps no audit:
 * just the model, an optional API key and strict input checks.
 *
 *   POST / or /predict   application/json  {"instances": [n × H × W × C]} (each image may also be a
 *                                          flat array of H·W·C numbers), values in [0,1]
 *                                          → {"predictions": [[p…]…]}  (output probabilities)
 *                                          → {"predictions": [label…]} (output label; multi-label:
 *                                            {"labels": [[0/1…]…]})
 *                        image/png         one image of the model's size (grey or RGB)
 *                                          → {"probabilities": [p…], "label": n} or {"label": n}
 *   GET /metadata        → {"inputShape", "classes", "task", "output", "name"}
 *
 * Bad input (malformed JSON, wrong shape, non-numbers, values outside [0,1], a PNG of the wrong
 * size) → 400 {"error"}; a body over `bodyLimitBytes` → 413; more than `maxInstances` images → 400;
 * another Content-Type → 415; a missing or wrong API key → 401. Keys are `Authorization: Bearer KEY`
 * or `X-API-Key: KEY`, compared in constant time.
 *
 *   const s = await serveModel(model, { port: 0, output: 'label', apiKey: 'k' });  // s.url, s.close()
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyError, type FastifyRequest } from 'fastify';
import { decodePng } from '../../data/image.js';
import { convertChannels } from '../../data/resize.js';
import { MedshieldError, oneLine } from '../../errors.js';
import type { Model } from '../../models/model.js';
import { decisions, type TargetOutput } from './target.js';

export interface ServeModelOptions {
  port?: number;
  host?: string;
  output?: TargetOutput;
  apiKey?: string;
  /** Largest request body accepted (default 32 MiB). */
  bodyLimitBytes?: number;
  /** Most images in one JSON request (default 256). */
  maxInstances?: number;
}

export interface ModelServer {
  url: string;
  close(): Promise<void> /** Images answered so far. */;
  readonly served: number;
}

class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();
const TYPES = ['application/json', 'image/png'];

export async function serveModel(model: Model, opts: ServeModelOptions = {}): Promise<ModelServer> {
  const output = opts.output ?? 'probabilities';
  const limit = opts.bodyLimitBytes ?? 32 * 1024 * 1024;
  const maxInstances = opts.maxInstances ?? 256;
  const [h, w, c] = model.inputShape;
  const d = h * w * c;
  const k = model.classes.length;
  const key = opts.apiKey !== undefined ? digest(opts.apiKey) : null;
  let served = 0;

  const app = Fastify({
    logger: false,
    bodyLimit: limit,
    routerOptions: { ignoreTrailingSlash: true },
    forceCloseConnections: true,
    trustProxy: false,
    serverFactory: (handler) => http.createServer({ headersTimeout: 30_000, requestTimeout: 120_000 }, handler),
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(TYPES, { parseAs: 'buffer' }, (_req: FastifyRequest, body: Buffer, done) =>
    done(null, body),
  );
  app.setErrorHandler((e: FastifyError, req, reply) => {
    let status = e instanceof HttpError ? e.statusCode : e instanceof MedshieldError ? 400 : (e.statusCode ?? 500);
    let message = oneLine(e);
    if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
      message = `body of ${req.headers['content-length'] ?? 'more'} bytes is over the limit of ${limit}`;
    if (e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || e.code === 'FST_ERR_CTP_EMPTY_TYPE') {
      status = 415;
      message = `Content-Type must be application/json or image/png, got '${contentType(req) || 'none'}'`;
    }
    if (status === 413) reply.header('Connection', 'close');
    reply.code(status).send({ error: status >= 500 ? 'internal error' : message });
  });
  const metadata = {
    inputShape: model.inputShape,
    classes: model.classes,
    task: model.task,
    output,
    name: model.card.name,
  };
  app.setNotFoundHandler((req, reply) => {
    const p = req.url.split('?')[0].replace(/\/+$/, '');
    // GET …/metadata under any prefix (a client given `URL/predict` asks `URL/predict/metadata`)
    if (p.endsWith('/metadata')) {
      if (req.method === 'GET' || req.method === 'HEAD') return reply.send(metadata);
      return reply.code(405).send({ error: 'use GET for /metadata' });
    }
    reply.code(404).send({ error: `no route ${req.url.split('?')[0]} (POST / or /predict, GET /metadata)` });
  });
  app.addHook('onRequest', async (req) => {
    if (!key) return;
    const auth = req.headers.authorization;
    const given = auth?.startsWith('Bearer ') ? auth.slice(7) : (req.headers['x-api-key'] as string | undefined);
    if (given === undefined || !timingSafeEqual(digest(given), key))
      throw new HttpError(401, 'missing or wrong API key');
  });

  const predict = async (x: Float32Array, n: number): Promise<Float32Array> => {
    const p = await model.predictProbs(x, n);
    served += n;
    return output === 'label' ? decisions(p, n, k, model.task) : p;
  };
  const label = (p: Float32Array, i: number): number | number[] => {
    const row = Array.from(p.subarray(i * k, (i + 1) * k));
    return model.task === 'multilabel' ? row.map((v) => (v > 0.5 ? 1 : 0)) : row.indexOf(Math.max(...row));
  };

  app.get('/metadata', async () => metadata);
  const wrongMethod = (use: string) => async (): Promise<never> => {
    throw new HttpError(405, use);
  };
  const others = ['DELETE', 'PATCH', 'PUT', 'OPTIONS'] as const;
  app.route({ method: ['POST', ...others], url: '/metadata', handler: wrongMethod('use GET for /metadata') });
  app.route({ method: ['GET', ...others], url: '/', handler: wrongMethod('use POST with a JSON or PNG body') });
  app.route({ method: ['GET', ...others], url: '/predict', handler: wrongMethod('use POST with a JSON or PNG body') });
  const answer = async (req: FastifyRequest): Promise<unknown> => {
    const type = contentType(req);
    if (!TYPES.includes(type))
      throw new HttpError(415, `Content-Type must be application/json or image/png, got '${type || 'none'}'`);
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    if (type === 'image/png') {
      let img;
      try {
        img = decodePng(body, 'body');
      } catch (e) {
        throw new HttpError(400, oneLine(e));
      }
      if (img.width !== w || img.height !== h)
        throw new HttpError(400, `image is ${img.width}×${img.height}, the model takes ${w}×${h}`);
      const p = await predict(convertChannels(img.data, h * w, img.channels, c as 1 | 3), 1);
      if (output === 'label') return model.task === 'multilabel' ? { labels: label(p, 0) } : { label: label(p, 0) };
      return { probabilities: Array.from(p), label: label(p, 0) };
    }
    const x = parseInstances(body, h, w, c, maxInstances);
    const n = x.length / d;
    const p = await predict(x, n);
    const rows = Array.from({ length: n }, (_, i) =>
      output === 'label' ? label(p, i) : Array.from(p.subarray(i * k, (i + 1) * k)),
    );
    return output === 'label' && model.task === 'multilabel' ? { labels: rows } : { predictions: rows };
  };
  app.post('/', answer);
  app.post('/predict', answer);

  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? 0;
  try {
    await app.listen({ port, host });
  } catch (e) {
    await app.close().catch(() => undefined);
    throw new MedshieldError(
      'IO',
      `cannot listen on ${host}:${port} (${(e as NodeJS.ErrnoException).code ?? oneLine(e)})`,
      { cause: e },
    );
  }
  const a = app.server.address() as AddressInfo;
  const shown = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return {
    url: `http://${shown}:${a.port}`,
    get served() {
      return served;
    },
    close: () => app.close(),
  };
}

function contentType(req: FastifyRequest): string {
  return (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
}

/** `{"instances": [...]}` → n·H·W·C floats, each a number in [0,1]; a 400 `HttpError` names the first problem. */
export function parseInstances(body: Buffer, h: number, w: number, c: number, maxInstances: number): Float32Array {
  let j: unknown;
  try {
    j = JSON.parse(body.toString('utf8'));
  } catch {
    throw new HttpError(400, 'body is not valid JSON');
  }
  const inst = (j as { instances?: unknown } | null)?.instances;
  if (!Array.isArray(inst) || inst.length === 0)
    throw new HttpError(400, 'body needs "instances": a non-empty array of images');
  if (inst.length > maxInstances)
    throw new HttpError(400, `${inst.length} instances, at most ${maxInstances} per request`);
  const d = h * w * c;
  const x = new Float32Array(inst.length * d);
  const shape = `${h}×${w}×${c}`;
  inst.forEach((img: unknown, i) => {
    let o = i * d;
    const put = (v: unknown): void => {
      if (typeof v !== 'number' || !(v >= 0 && v <= 1))
        throw new HttpError(400, `instance ${i}: ${JSON.stringify(v)?.slice(0, 40)} is not a number in [0,1]`);
      x[o++] = v;
    };
    if (Array.isArray(img) && img.length === d && d !== h) {
      img.forEach(put);
      return;
    }
    if (!Array.isArray(img) || img.length !== h)
      throw new HttpError(400, `instance ${i} does not have the shape ${shape}`);
    for (const row of img) {
      if (!Array.isArray(row) || row.length !== w)
        throw new HttpError(400, `instance ${i} does not have the shape ${shape}`);
      for (const px of row) {
        if (c === 1 && typeof px === 'number') {
          put(px);
          continue;
        }
        if (!Array.isArray(px) || px.length !== c)
          throw new HttpError(400, `instance ${i} does not have the shape ${shape}`);
        px.forEach(put);
      }
    }
  });
  return x;
}
