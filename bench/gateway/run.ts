/**
 * Gateway benchmark on loopback, bounded: requests/s and p50/p99 latency of
 *   raw      — the model in-process (decode + predict, micro-batched like the gateway), no HTTP
 *   bare HTTP — Fastify + decode + predict with none of the protections
 *   gateway, verification off — HTTP + auth + rate limit + query detector + durable audit, unsigned DICOM,
 *   signature.required false
 *   gateway, verification on  — the same with signed DICOM (ECDSA P-256 / SHA-256) verified before inference
 *   gateway + input screening (optional) — verification on plus config `defences` (--defences SPEC[;SPEC…]) and/or
 *             `detectors` (--detector DIR:THRESHOLD[,DIR:THRESHOLD…], folders of `medshield detect --save`, action
 *             flag)
 * with C concurrent keep-alive clients sending N requests per row and round; all servers run side by side and the
 * rows take turns for R rounds (a load change on a shared machine hits every row alike); each row reports the
 * median req/s, p50 and p99 over the rounds (and the per-round req/s), and the protected/raw ratios of the medians.
 * Each gateway row also reports its audit group commits: records written, durable commits (fsyncs), records
 * per commit, mean commit time; and `breakdown`: mean/p50/p99 ms of every stage of the request (auth, receive,
 * hash, parse, verify, decode, queue, model, answer, audit; from the gateway's Server-Timing header, on for the bench).
 *
 *   node dist/bench/gateway/run.js [--model DIR|default] [--requests 1000] [--rounds 3] [--concurrency 16] [--backend
 *   auto|native|wasm|cpu (auto, as `medshield serve`)]
 *        [--audit sqlite|sqlite:PATH|postgres://…/audit_{variant}] [--verify-workers 1|0,1 (one verification-on row
 *        each)] [--defences 'jpeg:q=75'] [--detector DIR:THRESHOLD]
 */
import { parseArgs } from 'node:util';
import path from 'node:path';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { initEngine } from '../../src/engine/index.js';
import { loadModel } from '../../src/models/io.js';
import { createGateway, loadGatewayConfig } from '../../src/gateway/index.js';
import { BatchedModel, modelInput } from '../../src/gateway/inference.js';
import { parseServerTiming } from '../../src/gateway/timing.js';
import Fastify from 'fastify';
import { makeGatewayDir, testImages, signedDicom, infer } from './fixtures.js';
import { writeDicom } from './dicom-writer.js';

/** Per-stage latency of the gateway's answers (Server-Timing, src/gateway/timing.ts): mean, p50, p99 in ms. */
export type Breakdown = Record<string, { meanMs: number; p50ms: number; p99ms: number }>;

interface Figures {
  name: string;
  requests: number;
  seconds: number;
  reqPerSec: number;
  p50ms: number;
  p99ms: number;
  errors: number;
  audit?: { records: number; commits: number; recordsPerCommit: number; commitMsMean: number };
  stages?: Record<string, number[]>;
  breakdown?: Breakdown;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

async function drive(
  name: string,
  total: number,
  conc: number,
  one: (i: number, stages: Record<string, number[]>) => Promise<boolean>,
): Promise<Figures> {
  const lat: number[] = [];
  let next = 0;
  let errors = 0;
  const stages: Record<string, number[]> = {};
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: conc }, async () => {
      while (next < total) {
        const i = next++;
        const t = performance.now();
        if (!(await one(i, stages))) errors++;
        lat.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  const r2 = (v: number) => Math.round(v * 100) / 100;
  return {
    name,
    requests: total,
    seconds: r2(seconds),
    reqPerSec: r2(total / seconds),
    p50ms: r2(pct(lat, 0.5)),
    p99ms: r2(pct(lat, 0.99)),
    errors,
    ...(Object.keys(stages).length ? { stages } : {}),
  };
}

/** Mean, p50 and p99 of each stage over all rounds, in request order. */
function breakdown(figs: Figures[]): Breakdown | undefined {
  const all: Record<string, number[]> = {};
  for (const f of figs) for (const [s, v] of Object.entries(f.stages ?? {})) (all[s] ??= []).push(...v);
  if (!Object.keys(all).length) return undefined;
  const r3 = (v: number) => Math.round(v * 1000) / 1000;
  const out: Breakdown = {};
  for (const [s, v] of Object.entries(all)) {
    v.sort((a, b) => a - b);
    out[s] = { meanMs: r3(v.reduce((a, b) => a + b, 0) / v.length), p50ms: r3(pct(v, 0.5)), p99ms: r3(pct(v, 0.99)) };
  }
  return out;
}

export interface BenchRow extends Figures {
  /** Per-round req/s (rounds interleave the rows, so load changes on a shared machine hit every row alike). */
  rounds: number[];
  /** Median req/s of this row / of the raw model, and / of bare HTTP. */
  vsRaw?: number;
  vsBareHttp?: number;
}

const median = (v: number[]): number => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

export async function runGatewayBench(o: {
  model: string;
  requests: number;
  concurrency: number;
  rounds?: number;
  audit?: string;
  verifyWorkers?: number[];
  defences?: string[];
  detectors?: Array<{ dir: string; threshold: number }>;
}): Promise<{
  backend: string;
  rounds: number;
  figures: BenchRow[];
  ratioVerifyOn: number;
  ratioVerifyOff: number;
  ratioVerifyOnVsBareHttp: number;
  ratioVerifyOffVsBareHttp: number;
  ratioScreenedVsVerifyOn?: number;
  ratioScreened?: number;
}> {
  const model = await loadModel(o.model);
  const imgs = await testImages(64);
  const warm = Math.min(100, o.requests);
  const batched = new BatchedModel(model);
  const unsigned = imgs.map((im) => writeDicom({ rows: 28, cols: 28, pixels: im.pixels }));
  const raw = async (i: number) => {
    const x = await modelInput(unsigned[i % unsigned.length], model);
    await batched.predict(x);
    return true;
  };
  const client = (name: string, base: string, key: string, bodies: Uint8Array[], total: number) =>
    new Promise<Figures>((resolve, reject) => {
      // The HTTP clients run in a worker thread, so client work does not share the server's event loop.
      const w = new Worker(new URL(import.meta.url), {
        workerData: { name, base, key, bodies, total, conc: o.concurrency },
      });
      w.once('message', resolve);
      w.once('error', reject);
    });
  interface Row {
    name: string;
    run: (n: number) => Promise<Figures>;
    gw?: Awaited<ReturnType<typeof createGateway>>;
    figs: Figures[];
    audit0?: [number, number, number];
  }
  const rows: Row[] = [
    { name: 'raw model (in-process decode + predict)', run: (n) => drive('raw', n, o.concurrency, raw), figs: [] },
  ];
  // Bare HTTP: Fastify + decode + predict, none of the protections (the cost of HTTP alone).
  const bare = Fastify({ logger: false });
  bare.removeAllContentTypeParsers();
  bare.addContentTypeParser('application/dicom', { parseAs: 'buffer' }, (_r, b, done) => done(null, b));
  bare.post('/v1/infer', async (req) => {
    const p = await batched.predict(await modelInput(req.body as Buffer, model));
    return { label: p[1] > p[0] ? 1 : 0, flags: [] };
  });
  const bareBase = await bare.listen({ port: 0, host: '127.0.0.1' });
  rows.push({
    name: 'bare HTTP (Fastify + decode + predict, no protection)',
    run: (n) => client('bare', bareBase, 'none', unsigned, n),
    figs: [],
  });
  const screened = !!(o.defences?.length || o.detectors?.length);
  // One verification-on row per --verify-workers value (the first is also used by the other rows).
  const ws = o.verifyWorkers?.length ? o.verifyWorkers : [1];
  const variants: Array<{ verify: boolean; screen: boolean; workers: number }> = [
    { verify: false, screen: false, workers: ws[0] },
    ...ws.map((w) => ({ verify: true, screen: false, workers: w })),
    ...(screened ? [{ verify: true, screen: true, workers: ws[0] }] : []),
  ];
  if (o.audit?.startsWith('postgres') && !o.audit.includes('{variant}'))
    throw new Error(
      '--audit postgres://…: the gateway rows run side by side and need one database each; put {variant} ' +
        'in the URL (e.g. postgres://u@host/audit_{variant}; databases audit_off, audit_on, audit_screened)',
    );
  for (const { verify, screen, workers } of variants) {
    const tag = screen ? 'screened' : verify ? `on-w${workers}` : 'off';
    const g = await makeGatewayDir(o.model, (c) => {
      c.logging = { level: 'warn', serverTiming: true };
      c.signature.required = verify;
      c.signature.workers = workers;
      c.rateLimit = { perKey: { max: 1e9, windowMs: 60000 }, perIp: { max: 1e9, windowMs: 60000 } };
      // The gateways run side by side: each needs its own audit database.
      if (o.audit && o.audit !== 'sqlite')
        c.audit.url = o.audit.startsWith('postgres')
          ? o.audit.replaceAll('{variant}', tag)
          : `${o.audit.replace(/\.db$/, '')}-${tag}.db`;
      if (screen) {
        c.defences = o.defences ?? [];
        c.detectors = (o.detectors ?? []).map((d) => ({ ...d, action: 'flag' }));
      }
    });
    const bodies = verify ? await Promise.all(imgs.map((im) => signedDicom(g, im.pixels))) : unsigned;
    const gw = await createGateway(loadGatewayConfig(g.config), { model });
    const base = await gw.listen(0, '127.0.0.1');
    const what = screen
      ? `on + ${[o.defences?.length ? `defences ${o.defences.join(';')}` : '', o.detectors?.length ? `detectors ${o.detectors.map((d) => path.basename(d.dir)).join(',')} (flag)` : ''].filter(Boolean).join(' + ')}`
      : verify
        ? `on, ${workers} verification worker${workers === 1 ? '' : 's'}`
        : 'off';
    rows.push({
      name: `gateway, signature verification ${what} (HTTP, auth, detector, durable audit)`,
      run: (n) => client('gw', base, g.apiKey, bodies, n),
      gw,
      figs: [],
    });
  }
  for (const r of rows) {
    await r.run(warm);
    if (r.gw) {
      await r.gw.ctx.audit.flush();
      r.audit0 = [r.gw.ctx.audit.headSeq, r.gw.ctx.audit.batches, r.gw.ctx.audit.writeSeconds] as [
        number,
        number,
        number,
      ];
    }
  }
  const rounds = o.rounds ?? 3;
  for (let k = 0; k < rounds; k++) for (const r of rows) r.figs.push(await r.run(o.requests));
  const r2 = (v: number) => Math.round(v * 100) / 100;
  const figures: BenchRow[] = [];
  for (const r of rows) {
    const f: BenchRow = {
      name: r.name,
      requests: o.requests * rounds,
      seconds: r2(r.figs.reduce((a, b) => a + b.seconds, 0)),
      reqPerSec: r2(median(r.figs.map((x) => x.reqPerSec))),
      p50ms: r2(median(r.figs.map((x) => x.p50ms))),
      p99ms: r2(median(r.figs.map((x) => x.p99ms))),
      errors: r.figs.reduce((a, b) => a + b.errors, 0),
      rounds: r.figs.map((x) => x.reqPerSec),
    };
    const b = breakdown(r.figs);
    if (b) f.breakdown = b;
    if (r.gw && r.audit0) {
      const a = r.gw.ctx.audit;
      await a.flush();
      const records = a.headSeq - r.audit0[0];
      const commits = a.batches - r.audit0[1];
      f.audit = {
        records,
        commits,
        recordsPerCommit: r2(records / Math.max(1, commits)),
        commitMsMean: r2(((a.writeSeconds - r.audit0[2]) * 1000) / Math.max(1, commits)),
      };
      await r.gw.close();
    }
    figures.push(f);
  }
  await bare.close();
  const r = (f: Figures, b: Figures) => Math.round((f.reqPerSec / b.reqPerSec) * 1000) / 1000;
  for (const f of figures.slice(1)) {
    f.vsRaw = r(f, figures[0]);
    f.vsBareHttp = r(f, figures[1]);
  }
  const sIdx = 3 + ws.length;
  return {
    backend: '',
    rounds,
    figures,
    ratioVerifyOff: r(figures[2], figures[0]),
    ratioVerifyOn: r(figures[3], figures[0]),
    ratioVerifyOnVsBareHttp: r(figures[3], figures[1]),
    ratioVerifyOffVsBareHttp: r(figures[2], figures[1]),
    ...(screened
      ? { ratioScreened: r(figures[sIdx], figures[0]), ratioScreenedVsVerifyOn: r(figures[sIdx], figures[3]) }
      : {}),
  };
}

if (!isMainThread && workerData?.base) {
  const d = workerData as {
    name: string;
    base: string;
    key: string;
    bodies: Uint8Array[];
    total: number;
    conc: number;
  };
  const f = await drive(d.name, d.total, d.conc, async (i, stages) => {
    const r = await infer(d.base, d.key, d.bodies[i % d.bodies.length]);
    const h = r.headers['server-timing'];
    for (const [s, ms] of Object.entries(parseServerTiming(Array.isArray(h) ? h.join(',') : h)))
      (stages[s] ??= []).push(ms);
    return r.status === 200;
  });
  parentPort!.postMessage(f);
  process.exit(0);
}

if (isMainThread && import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      model: { type: 'string', default: 'default' },
      requests: { type: 'string', default: '1000' },
      rounds: { type: 'string', default: '3' },
      concurrency: { type: 'string', default: '16' },
      backend: { type: 'string', default: 'auto' },
      audit: { type: 'string', default: 'sqlite' },
      'verify-workers': { type: 'string', default: '1' },
      defences: { type: 'string' },
      detector: { type: 'string' },
    },
  });
  const info = await initEngine({ backend: values.backend as 'wasm' });
  const res = await runGatewayBench({
    model: values.model!,
    requests: +values.requests!,
    concurrency: +values.concurrency!,
    rounds: +values.rounds!,
    audit: values.audit,
    verifyWorkers: values['verify-workers']!.split(',').map(Number),
    defences: values.defences ? values.defences.split(';').filter(Boolean) : undefined,
    detectors: values.detector
      ? values.detector.split(',').map((d) => {
          const i = d.lastIndexOf(':');
          return { dir: path.resolve(d.slice(0, i)), threshold: Number(d.slice(i + 1)) };
        })
      : undefined,
  });
  res.backend = info.backend;
  process.stdout.write(JSON.stringify(res, null, 1) + '\n');
  process.exit(0);
}
