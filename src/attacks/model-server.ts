/**
 * A small HTTP server wrapping a medshield model (tfjs or ONNX) — the "vendor API" that black-box
 * attacks query in tests and demos (`medshield target serve`). Not the hardened gateway
 * (`medshield serve`): no signatures, no audit; just the model, an optional API key and strict
 * input checks.
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
 * a missing or wrong API key → 401. Keys are `Authorization: Bearer KEY` or `X-API-Key: KEY`.
 *
 *   const s = await serveModel(model, { port: 0, output: 'label', apiKey: 'k' });  // s.url, s.close()
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodePng } from '../data/image.js';
import { convertChannels } from '../data/resize.js';
import { MedshieldError, oneLine } from '../errors.js';
import type { Model } from '../models/model.js';
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

export interface ModelServer { url: string; close(): Promise<void>; /** Images answered so far. */ readonly served: number }

class HttpError extends Error { constructor(readonly status: number, message: string) { super(message); } }

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

export async function serveModel(model: Model, opts: ServeModelOptions = {}): Promise<ModelServer> {
  const output = opts.output ?? 'probabilities';
  const limit = opts.bodyLimitBytes ?? 32 * 1024 * 1024;
  const maxInstances = opts.maxInstances ?? 256;
  const [h, w, c] = model.inputShape; const d = h * w * c; const k = model.classes.length;
  const key = opts.apiKey !== undefined ? digest(opts.apiKey) : null;
  let served = 0;

  const authorised = (req: IncomingMessage): boolean => {
    if (!key) return true;
    const auth = req.headers.authorization;
    const given = auth?.startsWith('Bearer ') ? auth.slice(7) : (req.headers['x-api-key'] as string | undefined);
    return given !== undefined && timingSafeEqual(digest(given), key);
  };

  const predict = async (x: Float32Array, n: number): Promise<Float32Array> => {
    const p = await model.predictProbs(x, n);
    served += n;
    return output === 'label' ? decisions(p, n, k, model.task) : p;
  };
  const label = (p: Float32Array, i: number): number | number[] => {
    const row = Array.from(p.subarray(i * k, (i + 1) * k));
    return model.task === 'multilabel' ? row.map((v) => (v > 0.5 ? 1 : 0)) : row.indexOf(Math.max(...row));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0].replace(/\/+$/, '') || '/';
    if (!authorised(req)) throw new HttpError(401, 'missing or wrong API key');
    if (path.endsWith('/metadata')) {
      if (req.method !== 'GET') throw new HttpError(405, 'use GET for /metadata');
      return send(res, 200, { inputShape: model.inputShape, classes: model.classes, task: model.task, output, name: model.card.name });
    }
    if (path !== '/' && path !== '/predict') throw new HttpError(404, `no route ${path} (POST / or /predict, GET /metadata)`);
    if (req.method !== 'POST') throw new HttpError(405, 'use POST with a JSON or PNG body');
    const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (type !== 'application/json' && type !== 'image/png') throw new HttpError(415, `Content-Type must be application/json or image/png, got '${type || 'none'}'`);
    const body = await readBody(req, limit);
    if (type === 'image/png') {
      let img;
      try { img = decodePng(body, 'body'); } catch (e) { throw new HttpError(400, oneLine(e)); }
      if (img.width !== w || img.height !== h) throw new HttpError(400, `image is ${img.width}×${img.height}, the model takes ${w}×${h}`);
      const x = convertChannels(img.data, h * w, img.channels, c as 1 | 3);
      const p = await predict(x, 1);
      return send(res, 200, output === 'label' ? (model.task === 'multilabel' ? { labels: label(p, 0) } : { label: label(p, 0) }) : { probabilities: Array.from(p), label: label(p, 0) });
    }
    const x = parseInstances(body, h, w, c, maxInstances);
    const n = x.length / d;
    const p = await predict(x, n);
    const rows = Array.from({ length: n }, (_, i) => (output === 'label' ? label(p, i) : Array.from(p.subarray(i * k, (i + 1) * k))));
    return send(res, 200, output === 'label' && model.task === 'multilabel' ? { labels: rows } : { predictions: rows });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      const status = e instanceof HttpError ? e.status : e instanceof MedshieldError ? 400 : 500;
      if (status === 413) res.setHeader('Connection', 'close');
      send(res, status, { error: status === 500 ? 'internal error' : oneLine(e) });
    });
  });
  server.headersTimeout = 30_000; server.requestTimeout = 120_000;
  await new Promise<void>((resolve, reject) => {
    const failed = (e: NodeJS.ErrnoException): void => reject(new MedshieldError('IO', `cannot listen on ${opts.host ?? '127.0.0.1'}:${opts.port ?? 0} (${e.code ?? oneLine(e)})`, { cause: e }));
    server.once('error', failed);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => { server.off('error', failed); resolve(); });
  });
  const a = server.address() as AddressInfo;
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return {
    url: `http://${host}:${a.port}`,
    get served() { return served; },
    close: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) { res.end(); return; }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** The body, or 413 past `limit` (the rest is drained so the client reads the answer; far past it the socket is cut). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    const parts: Buffer[] = []; let size = 0;
    req.on('data', (b: Buffer) => {
      size += b.length;
      if (size <= limit) parts.push(b);
      else if (size > 16 * limit) req.destroy();
    });
    req.on('end', () => (size > limit ? reject(new HttpError(413, `body of ${size} bytes is over the limit of ${limit}`)) : resolve(Buffer.concat(parts))));
    req.on('error', reject);
    if (Number.isFinite(declared) && declared > 16 * limit) { reject(new HttpError(413, `body of ${declared} bytes is over the limit of ${limit}`)); req.destroy(); }
  });
}

/** `{"instances": [...]}` → n·H·W·C floats, every value a number in [0,1]. */
export function parseInstances(body: Buffer, h: number, w: number, c: number, maxInstances: number): Float32Array {
  let j: unknown;
  try { j = JSON.parse(body.toString('utf8')); } catch { throw new HttpError(400, 'body is not valid JSON'); }
  const inst = (j as { instances?: unknown } | null)?.instances;
  if (!Array.isArray(inst) || inst.length === 0) throw new HttpError(400, 'body needs "instances": a non-empty array of images');
  if (inst.length > maxInstances) throw new HttpError(400, `${inst.length} instances, at most ${maxInstances} per request`);
  const d = h * w * c;
  const x = new Float32Array(inst.length * d);
  const shape = `${h}×${w}×${c}`;
  inst.forEach((img: unknown, i) => {
    let o = i * d;
    const put = (v: unknown): void => {
      if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new HttpError(400, `instance ${i}: ${JSON.stringify(v)?.slice(0, 40)} is not a number in [0,1]`);
      x[o++] = v;
    };
    if (Array.isArray(img) && img.length === d && d !== h) { img.forEach(put); return; }
    if (!Array.isArray(img) || img.length !== h) throw new HttpError(400, `instance ${i} does not have the shape ${shape}`);
    for (const row of img) {
      if (!Array.isArray(row) || row.length !== w) throw new HttpError(400, `instance ${i} does not have the shape ${shape}`);
      for (const px of row) {
        if (c === 1 && typeof px === 'number') { put(px); continue; }
        if (!Array.isArray(px) || px.length !== c) throw new HttpError(400, `instance ${i} does not have the shape ${shape}`);
        px.forEach(put);
      }
    }
  });
  return x;
}
