/**
 * Campaign benchmark (issue 22, acceptance 3): the same campaign run in one process and through the
 * BullMQ queue by two `medshield worker` processes, and a model of the speedup on many workers.
 *
 *   npm run bench:campaign -- [--json] [--n 48] [--shard 8] [--steps 10]
 *
 * The campaign: the shipped default model, n PneumoniaMNIST test images, PGD-`steps` L∞ at 2/255 and
 * 8/255, shardSize `shard` (2·n/shard jobs). `local` = runCampaignLocal in this process on the native
 * backend with 2 threads (SQLite store); `workers2` = runCampaignOnQueue with two worker processes of one
 * thread each (PostgreSQL store, Redis from scripts/start-redis.sh), timed from planning to the returned
 * status, workers started and idle beforehand (each loads the model in its first job, as the local run does).
 * The numbers of both runs must agree (checked).
 *
 * `queueOverheadMsPerShard`: per worker, (last job end − first job start − Σ runJob seconds) / its jobs,
 * weighted by jobs — the time a worker spends per shard outside `runJob` (taking the job from Redis, the
 * lock, the store checks, completing it and fetching the next); the JSON also gives the shard-time
 * distribution (runJob seconds in the workers), the serial part (coordinator wall time not covered by any
 * worker's jobs: planning, enqueueing, aggregation, the last poll) and the modelled speedup at 8, 64 and
 * 512 workers (see bench/README.md, "Campaigns on many workers").
 * The last stdout line (with --json):
 *   {"shards","local":{"seconds"},"workers2":{"seconds"},"speedup","queueOverheadMsPerShard",…}
 */
import { mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { initEngine } from '../../src/engine/index.js';
import {
  openStore,
  runCampaignLocal,
  validateCampaignSpec,
  type CampaignStatus,
} from '../../src/api/campaign/index.js';
import { runCampaignOnQueue, type WorkerEvent } from '../../src/api/campaign/queue.js';
import { freshDatabase, freshQueue, spawnWorker, startPostgres, startRedis, stopWorker } from './cluster.js';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const json = args.includes('--json');
const n = Number(flag('--n') ?? 48);
const shard = Number(flag('--shard') ?? 8);
const steps = Number(flag('--steps') ?? 10);
const log = (s: string): void => {
  process.stderr.write(s + '\n');
};
const r3 = (x: number): number => Math.round(x * 1000) / 1000;

/** Deterministic PRNG (mulberry32) for the bootstrap of the speedup model. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/**
 * Modelled wall time of `jobs` shards on `w` workers: serial part + FIFO list scheduling (each free
 * worker takes the next shard, as BullMQ hands them out) of shard times drawn from the measured ones,
 * each plus the per-shard overhead; median of 25 draws. Speedup = the same shards run back to back in one
 * process without a queue (Σ shard times: no overhead, no coordinator) / that wall time.
 */
export function modelSpeedup(
  shardSeconds: number[],
  overheadS: number,
  serialS: number,
  jobs: number,
  w: number,
): number {
  const rand = rng(jobs * 7919 + w);
  const runs: number[] = [];
  for (let k = 0; k < 25; k++) {
    const t = Array.from({ length: jobs }, () => shardSeconds[Math.floor(rand() * shardSeconds.length)] + overheadS);
    const one = t.reduce((s, x) => s + x - overheadS, 0);
    const free = new Float64Array(Math.min(w, jobs));
    for (const x of t) {
      let i = 0;
      for (let j = 1; j < free.length; j++) if (free[j] < free[i]) i = j;
      free[i] += x;
    }
    runs.push(one / (serialS + Math.max(...free)));
  }
  runs.sort((a, b) => a - b);
  return runs[Math.floor(runs.length / 2)];
}

function stats(xs: number[]): { mean: number; sd: number; min: number; max: number; p90: number } {
  const s = [...xs].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  const sd = Math.sqrt(s.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, s.length - 1));
  return {
    mean: r3(mean),
    sd: r3(sd),
    min: r3(s[0]),
    max: r3(s[s.length - 1]),
    p90: r3(s[Math.min(s.length - 1, Math.floor(0.9 * s.length))]),
  };
}

async function main(): Promise<void> {
  const redis = startRedis();
  const postgres = startPostgres();
  if (!redis.url) throw new Error(`no Redis: ${redis.why}`);
  if (!postgres.url) throw new Error(`no PostgreSQL: ${postgres.why}`);
  const spec = validateCampaignSpec(
    {
      name: 'bench-campaign',
      seed: 0,
      models: [{ ref: 'default' }],
      data: { dataset: 'pneumoniamnist', split: 'test', limit: n },
      attacks: [{ attack: 'pgd', eps: ['2/255', '8/255'], steps }],
      shardSize: shard,
    },
    'bench spec',
  );
  const shards = 2 * Math.ceil(n / shard);
  const load0 = loadavg()[0];
  const db = await freshDatabase(postgres.url, 'bench');
  const queue = await freshQueue(redis.url, 14);
  const env = { MEDSHIELD_THREADS: '1' };
  const workers = [
    spawnWorker(queue, db.url, ['--threads', '1'], env),
    spawnWorker(queue, db.url, ['--threads', '1'], env),
  ];
  try {
    const engine = await initEngine({ threads: 2 });
    log(
      `campaign: ${n} images, PGD-${steps} at 2/255 and 8/255, ${shards} ` +
        `shards of ${shard}; local ${engine.backend} × ${engine.threads} threads`,
    );
    const work = mkdtempSync(path.join(tmpdir(), 'medshield-bench-campaign-'));
    const localStore = await openStore(path.join(work, 'local.db'));
    let local: CampaignStatus;
    let localSeconds: number;
    let localShardSeconds: number[];
    try {
      const t0 = performance.now();
      local = await runCampaignLocal(spec, {
        store: localStore,
        onProgress: (p) => {
          if (!p.job) log(`local: ${p.done}/${p.total}`);
        },
      });
      localSeconds = (performance.now() - t0) / 1000;
      localShardSeconds = (await localStore.results(local.id)).map((r) => r.seconds);
    } finally {
      await localStore.close();
    }
    log(`local: ${localSeconds.toFixed(1)} s`);
    const store = await openStore(db.url);
    let dist: CampaignStatus;
    let wallSeconds: number;
    try {
      const t0 = performance.now();
      let last = -1;
      dist = await runCampaignOnQueue(spec, {
        store,
        queueUrl: queue,
        pollMs: 250,
        onProgress: (p) => {
          if (p.done !== last) {
            last = p.done;
            log(`workers2: ${p.done}/${p.total}`);
          }
        },
      });
      wallSeconds = (performance.now() - t0) / 1000;
    } finally {
      await store.close();
    }
    log(`workers2: ${wallSeconds.toFixed(1)} s`);
    const same = JSON.stringify(dist.results) === JSON.stringify(local.results);
    if (!same) throw new Error('the queue run and the local run disagree');
    const done = workers.map((w) =>
      w.events.filter(
        (e): e is WorkerEvent & { startedAt: number; endedAt: number; runSeconds: number } =>
          e.type === 'done' && e.written === true,
      ),
    );
    const jobs = done.reduce((s, d) => s + d.length, 0);
    let outsideMs = 0;
    for (const d of done) {
      if (!d.length) continue;
      const span = Math.max(...d.map((e) => e.endedAt)) - Math.min(...d.map((e) => e.startedAt));
      outsideMs += span - d.reduce((s, e) => s + e.runSeconds * 1000, 0);
    }
    const overheadMs = outsideMs / Math.max(1, jobs);
    const processorMs =
      done.flat().reduce((s, e) => s + (e.endedAt - e.startedAt - e.runSeconds * 1000), 0) / Math.max(1, jobs);
    const all = done.flat();
    const firstStart = Math.min(...all.map((e) => e.startedAt));
    const lastEnd = Math.max(...all.map((e) => e.endedAt));
    const serialSeconds = wallSeconds - (lastEnd - firstStart) / 1000;
    const shardSeconds = all.map((e) => e.runSeconds);
    const model = Object.fromEntries(
      [8, 64, 512].map((w) => [
        String(w),
        {
          [`shards${shards}`]: r3(modelSpeedup(shardSeconds, overheadMs / 1000, serialSeconds, shards, w)),
          shards4096: r3(modelSpeedup(shardSeconds, overheadMs / 1000, serialSeconds, 4096, w)),
        },
      ]),
    );
    const out = {
      shards,
      local: { seconds: r3(localSeconds), threads: engine.threads, shardSeconds: stats(localShardSeconds) },
      workers2: {
        seconds: r3(wallSeconds),
        threadsPerWorker: 1,
        jobsPerWorker: done.map((d) => d.length),
        shardSeconds: stats(shardSeconds),
      },
      speedup: r3(localSeconds / wallSeconds),
      queueOverheadMsPerShard: Math.round(overheadMs),
      processorOverheadMsPerShard: Math.round(processorMs),
      serialSeconds: r3(serialSeconds),
      model,
      identical: same,
      loadAverage: [r3(load0), r3(loadavg()[0])],
    };
    if (json) process.stdout.write(JSON.stringify(out) + '\n');
    else {
      log(
        `speedup (local 1 × ${engine.threads} threads → 2 workers × 1 thread): ${out.speedup.toFixed(2)}` +
          `; queue overhead ${out.queueOverheadMsPerShard} ms/shard; serial ${serialSeconds.toFixed(1)} s`,
      );
      for (const [w, m] of Object.entries(model)) log(`modelled speedup on ${w} workers: ${JSON.stringify(m)}`);
    }
  } finally {
    await Promise.all(workers.map((w) => stopWorker(w, 60_000)));
    await db.drop().catch(() => undefined);
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`bench:campaign: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
