/**
 * Gateway benchmark on loopback, bounded: requests/s and p50/p99 latency of
 *   raw      — the model in-process (decode + predict, micro-batched like the gateway), no HTTP
 *   bare HTTP — Fastify + decode + predict with none of the protections
 *   gateway, verification off — HTTP + auth + rate limit + query detector + durable audit, unsigned DICOM, signature.required false
 *   gateway, verification on  — the same with signed DICOM (ECDSA P-256 / SHA-256) verified before inference
 * with C concurrent keep-alive clients sending N requests each, and the protected/raw ratio.
 *
 *   node dist/bench/gateway/run.js [--model DIR|default] [--requests 1000] [--concurrency 16] [--backend wasm] [--audit sqlite|postgres://…] [--verify-workers 0]
 */
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { initEngine } from '../../src/engine/index.js';
import { loadModel } from '../../src/models/io.js';
import { createGateway, loadGatewayConfig } from '../../src/gateway/index.js';
import { BatchedModel, modelInput } from '../../src/gateway/inference.js';
import Fastify from 'fastify';
import { makeGatewayDir, testImages, signedDicom, infer } from './fixtures.js';
import { writeDicom } from './dicom-writer.js';

interface Figures { name: string; requests: number; seconds: number; reqPerSec: number; p50ms: number; p99ms: number; errors: number }

function pct(sorted: number[], p: number): number { return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]; }

async function drive(name: string, total: number, conc: number, one: (i: number) => Promise<boolean>): Promise<Figures> {
  const lat: number[] = []; let next = 0; let errors = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: conc }, async () => {
    while (next < total) {
      const i = next++;
      const t = performance.now();
      if (!(await one(i))) errors++;
      lat.push(performance.now() - t);
    }
  }));
  const seconds = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  const r2 = (v: number) => Math.round(v * 100) / 100;
  return { name, requests: total, seconds: r2(seconds), reqPerSec: r2(total / seconds), p50ms: r2(pct(lat, 0.5)), p99ms: r2(pct(lat, 0.99)), errors };
}

export async function runGatewayBench(o: { model: string; requests: number; concurrency: number; audit?: string; verifyWorkers?: number }): Promise<{ backend: string; figures: Figures[]; ratioVerifyOn: number; ratioVerifyOff: number; ratioVerifyOnVsBareHttp: number; ratioVerifyOffVsBareHttp: number }> {
  const model = await loadModel(o.model);
  const imgs = await testImages(64);
  const warm = Math.min(100, o.requests);
  const batched = new BatchedModel(model);
  const unsigned = imgs.map((im) => writeDicom({ rows: 28, cols: 28, pixels: im.pixels }));
  const raw = async (i: number) => { const x = await modelInput(unsigned[i % unsigned.length], model); await batched.predict(x); return true; };
  await drive('warm-up', warm, o.concurrency, raw);
  const figures = [await drive('raw model (in-process decode + predict)', o.requests, o.concurrency, raw)];
  const client = (name: string, base: string, key: string, bodies: Uint8Array[], total: number) => new Promise<Figures>((resolve, reject) => {
    // The HTTP clients run in a worker thread, so client work does not share the server's event loop.
    const w = new Worker(new URL(import.meta.url), { workerData: { name, base, key, bodies, total, conc: o.concurrency } });
    w.once('message', resolve); w.once('error', reject);
  });
  {
    // Bare HTTP: Fastify + decode + predict, none of the protections (the cost of HTTP alone).
    const bare = Fastify({ logger: false });
    bare.removeAllContentTypeParsers();
    bare.addContentTypeParser('application/dicom', { parseAs: 'buffer' }, (_r, b, done) => done(null, b));
    bare.post('/v1/infer', async (req) => { const p = await batched.predict(await modelInput(req.body as Buffer, model)); return { label: p[1] > p[0] ? 1 : 0, flags: [] }; });
    const base = await bare.listen({ port: 0, host: '127.0.0.1' });
    await client('warm-up', base, 'none', unsigned, warm);
    figures.push(await client('bare HTTP (Fastify + decode + predict, no protection)', base, 'none', unsigned, o.requests));
    await bare.close();
  }
  for (const verify of [false, true]) {
    const g = await makeGatewayDir(o.model, (c) => {
      c.logging = { level: 'warn' };
      c.signature.required = verify;
      c.signature.workers = o.verifyWorkers ?? 0;
      c.rateLimit = { perKey: { max: 1e9, windowMs: 60000 }, perIp: { max: 1e9, windowMs: 60000 } };
      if (o.audit && o.audit !== 'sqlite') c.audit.url = o.audit;
    });
    const bodies = verify ? await Promise.all(imgs.map((im) => signedDicom(g, im.pixels))) : unsigned;
    const gw = await createGateway(loadGatewayConfig(g.config), { model });
    const base = await gw.listen(0, '127.0.0.1');
    await client('warm-up', base, g.apiKey, bodies, warm);
    figures.push(await client(`gateway, signature verification ${verify ? 'on' : 'off'} (HTTP, auth, detector, durable audit)`, base, g.apiKey, bodies, o.requests));
    await gw.close();
  }
  const r = (f: Figures, b: Figures) => Math.round((f.reqPerSec / b.reqPerSec) * 1000) / 1000;
  return { backend: '', figures, ratioVerifyOff: r(figures[2], figures[0]), ratioVerifyOn: r(figures[3], figures[0]), ratioVerifyOnVsBareHttp: r(figures[3], figures[1]), ratioVerifyOffVsBareHttp: r(figures[2], figures[1]) };
}

if (!isMainThread && workerData?.base) {
  const d = workerData as { name: string; base: string; key: string; bodies: Uint8Array[]; total: number; conc: number };
  const f = await drive(d.name, d.total, d.conc, async (i) => (await infer(d.base, d.key, d.bodies[i % d.bodies.length])).status === 200);
  parentPort!.postMessage(f);
  process.exit(0);
}

if (isMainThread && import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { model: { type: 'string', default: 'default' }, requests: { type: 'string', default: '1000' }, concurrency: { type: 'string', default: '16' }, backend: { type: 'string', default: 'wasm' }, audit: { type: 'string', default: 'sqlite' }, 'verify-workers': { type: 'string', default: '0' } } });
  const info = await initEngine({ backend: values.backend as 'wasm' });
  const res = await runGatewayBench({ model: values.model!, requests: +values.requests!, concurrency: +values.concurrency!, audit: values.audit, verifyWorkers: +values['verify-workers']! });
  res.backend = info.backend;
  process.stdout.write(JSON.stringify(res, null, 1) + '\n');
  process.exit(0);
}
