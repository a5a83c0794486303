/**
 * `npm run bench:dashboard [-- --records 100000] [--n 30] [--store sqlite:/path.db] [--json]` — issue 23,
 * acceptance 4: a results store with 100,000 per-sample records, and how fast the dashboard answers over it.
 *
 * The records are NOT new measurements: a small real campaign runs first (the shipped ResNet-18, 16
 * PneumoniaMNIST test films, PGD 3 steps at ε = 2/255 and 8/255: 32 real per-sample records with their PNGs),
 * then its records are replicated, each copy under a distinct sample key and job key, into a second campaign
 * whose spec says 50,000 images × 2 ε in shards of 64 (so 1,564 job rows, as a real campaign of that size
 * would have). Numbers in that campaign are the real campaign's, repeated; only sizes are being measured.
 *
 * Timed over HTTP on 127.0.0.1 (the dashboard listening, fetch from this process), median of N:
 * the campaign page's data endpoint (GET /api/campaigns/:id), the gallery page endpoint (GET
 * /api/campaigns/:id/samples, 24 per page) at the first, a middle and the last page, filtered (flipped at
 * 8/255), one gallery image, and /api/health (reads nothing: the machine's floor). Last stdout line: JSON.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { initEngine } from '../../src/engine/index.js';
import {
  openStore,
  runCampaignLocal,
  validateCampaignSpec,
  campaignStatus,
  specHash,
  type AttackJobResult,
  type JobResultRow,
  type SampleImageRow,
  type SampleRow,
} from '../../src/api/campaign/index.js';
import { createDashboard } from '../../src/dashboard/server.js';

const args = process.argv.slice(2);
const opt = (k: string, d: string): string => {
  const i = args.indexOf(k);
  return i >= 0 ? args[i + 1] : d;
};
const RECORDS = Number(opt('--records', '100000'));
const N = Number(opt('--n', '30'));
const SHARD = 64;
const tmp = mkdtempSync(path.join(tmpdir(), 'medshield-bench-dashboard-'));
const storeUrl = opt('--store', `sqlite:${path.join(tmp, 'bench.db')}`);
const log = (s: string): void => {
  process.stderr.write(`${s}\n`);
};

await initEngine();
const store = await openStore(storeUrl);
try {
  // 1. A small real campaign.
  const realSpec = validateCampaignSpec({
    name: 'bench-dashboard-source',
    seed: 0,
    models: [{ ref: 'default' }],
    data: { dataset: 'pneumoniamnist', split: 'test', limit: 16 },
    attacks: [{ attack: 'pgd', eps: ['2/255', '8/255'], steps: 3 }],
    shardSize: 8,
  });
  let t0 = performance.now();
  const real = await runCampaignLocal(realSpec, { store });
  log(`real campaign ${real.id}: ${real.shards.done} jobs in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const realJobs = (await store.results(real.id)).filter((r) => r.kind === 'attack');

  // 2. The replicated campaign: RECORDS / 2 images per ε, shards of 64.
  const perEps = Math.floor(RECORDS / realSpec.attacks[0].eps.length);
  const spec = validateCampaignSpec({
    name: 'bench-dashboard-100k',
    seed: 0,
    models: [{ ref: 'default' }],
    data: { dataset: 'pneumoniamnist', split: 'test', limit: perEps },
    attacks: [{ attack: 'pgd', eps: ['2/255', '8/255'], steps: 3 }],
    shardSize: SHARD,
  });
  const hash = specHash(spec);
  const id = `${spec.name}-${hash.slice(0, 12)}`;
  const shardsPerEps = Math.ceil(perEps / SHARD);
  const now = new Date().toISOString();
  await store.createCampaign({
    id,
    name: spec.name,
    specHash: hash,
    spec,
    jobsTotal: shardsPerEps * spec.attacks[0].eps.length,
    state: 'running',
    createdAt: now,
    updatedAt: now,
    seconds: 0,
  });
  t0 = performance.now();
  let written = 0;
  if ((await store.samples(id, { limit: 1 })).total === 0) {
    for (const e of spec.attacks[0].eps) {
      const jobs = realJobs.filter((j) => Math.abs(j.eps - e.value) < 1e-12);
      const samples: SampleRow[] = [];
      const images = new Map<string, SampleImageRow>();
      for (const j of jobs) {
        const { rows } = await store.samples(real.id, { eps: e.value, limit: 1000 });
        for (const s of rows.filter((x) => x.jobKey === j.jobKey)) {
          samples.push(s);
          images.set(s.sampleKey, (await store.sampleImages(real.id, s.sampleKey))!);
        }
      }
      const results = jobs.map((j) => j.result as AttackJobResult);
      for (let k = 0; k < shardsPerEps; k++) {
        const size = Math.min(SHARD, perEps - k * SHARD);
        const jobKey = `atk.default.pgd.e${e.text.replace('/', '_')}.s${k}`;
        const copies: SampleRow[] = [];
        const pngs: SampleImageRow[] = [];
        for (let i = 0; i < size; i++) {
          const src = samples[i % samples.length];
          const sampleKey = `${jobKey}.${i}`;
          copies.push({ ...src, sampleKey, jobKey, position: k * SHARD + i });
          pngs.push({ ...images.get(src.sampleKey)!, sampleKey });
        }
        // The job's counts are those of its (replicated) records.
        const correct = (s: SampleRow): boolean => JSON.stringify(s.cleanPrediction) === JSON.stringify(s.label);
        const robust = (s: SampleRow): boolean => JSON.stringify(s.adversarialPrediction) === JSON.stringify(s.label);
        const attacked = copies.filter((s) => s.attacked);
        const result: AttackJobResult = {
          n: copies.length,
          cleanCorrect: copies.filter(correct).length,
          robustCorrect: copies.filter(robust).length,
          attacked: attacked.length,
          succeeded: attacked.filter((s) => s.success).length,
          linfSum: attacked.reduce((s, c) => s + c.linf, 0),
          l2Sum: attacked.reduce((s, c) => s + c.l2, 0),
          queriesSum: 0,
          queriesCount: 0,
          summary: results[0].summary,
        };
        const row: JobResultRow = {
          ...jobs[0],
          campaignId: id,
          jobKey,
          shard: k,
          result,
          specHash: hash,
          seconds: 0,
          createdAt: now,
        };
        if (await store.putResult(row, copies, pngs)) written += copies.length;
        if (k % 100 === 0) log(`ε ${e.text}: ${k}/${shardsPerEps} shards written`);
      }
    }
    await store.setCampaignState(id, 'done');
  }
  const fillSeconds = (performance.now() - t0) / 1000;
  const total = (await store.samples(id, { limit: 1 })).total;
  log(`replicated campaign ${id}: ${total} per-sample records (${written} written now, ${fillSeconds.toFixed(1)} s)`);

  // 3. Time the dashboard's endpoints over HTTP.
  const dash = await createDashboard({ store, storeLabel: storeUrl });
  const url = await dash.listen(0);
  const median = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  const time = async (u: string): Promise<{ firstMs: number; medianMs: number; maxMs: number; bytes: number }> => {
    const ms: number[] = [];
    let bytes = 0;
    const t1 = performance.now();
    await (await fetch(url + u)).arrayBuffer(); // the first request: nothing cached by the dashboard
    const firstMs = Math.round((performance.now() - t1) * 10) / 10;
    for (let i = 0; i < N; i++) {
      const t = performance.now();
      const r = await fetch(url + u);
      const b = await r.arrayBuffer();
      ms.push(performance.now() - t);
      if (!r.ok) throw new Error(`${u}: HTTP ${r.status}`);
      bytes = b.byteLength;
    }
    return { firstMs, medianMs: Math.round(median(ms) * 10) / 10, maxMs: Math.round(Math.max(...ms) * 10) / 10, bytes };
  };
  const status = await campaignStatus(store, id);
  const t2 = performance.now();
  await campaignStatus(store, id);
  const statusDirectMs = Math.round((performance.now() - t2) * 10) / 10;
  const lastPage = Math.floor((total - 1) / 24) * 24;
  const e8 = spec.attacks[0].eps[1].value;
  const page0 = (await (await fetch(`${url}/api/campaigns/${id}/samples?limit=24`)).json()) as {
    rows: Array<{ key: string }>;
  };
  const out = {
    records: total,
    jobs: status.shards.done,
    n: N,
    loadAverage: os.loadavg().map((x) => Math.round(x * 10) / 10),
    store: storeUrl.startsWith('postgres') ? 'postgres' : 'sqlite',
    storeBytes: storeUrl.startsWith('sqlite:') ? statSync(storeUrl.slice(7)).size : null,
    // campaignStatus called directly (what the endpoint costs when the store changed since the last request).
    statusDirectMs,
    campaign: await time(`/api/campaigns/${id}`),
    galleryFirstPage: await time(`/api/campaigns/${id}/samples?offset=0&limit=24`),
    galleryMiddlePage: await time(`/api/campaigns/${id}/samples?offset=${Math.floor(total / 48) * 24}&limit=24`),
    galleryLastPage: await time(`/api/campaigns/${id}/samples?offset=${lastPage}&limit=24`),
    galleryFiltered: await time(`/api/campaigns/${id}/samples?flipped=true&eps=${e8}&offset=24&limit=24`),
    galleryImage: await time(`/api/campaigns/${id}/samples/${encodeURIComponent(page0.rows[0].key)}/adversarial.png`),
    campaignList: await time('/api/campaigns'),
    // The floor on this machine: an endpoint that reads nothing.
    health: await time('/api/health'),
  };
  await dash.close();
  process.stdout.write((args.includes('--json') ? JSON.stringify(out) : JSON.stringify(out, null, 1)) + '\n');
} finally {
  await store.close();
  rmSync(tmp, { recursive: true, force: true });
}
