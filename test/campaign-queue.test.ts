/**
 * Distributed campaigns on BullMQ (issue 22, item 4; acceptance 2): a small real campaign (the shipped
 * default model on PneumoniaMNIST test images, PGD at 2/255 and 8/255 and Square) run in process and
 * through Redis by two `medshield worker` processes gives identical numbers, also when one worker is
 * killed with -9 in the middle of a job (its job is taken over after the stall interval, every result is
 * stored once); a coordinator killed mid-run and started again enqueues only the jobs without a result.
 * Redis and PostgreSQL come from scripts/start-redis.sh and scripts/start-postgres.sh (Debian's
 * redis-server and postgresql; MEDSHIELD_REDIS_URL / MEDSHIELD_PG_URL override); without them the tests
 * skip with the reason. The same holds for defence and scorecard jobs (a campaign with a JPEG defence row and the
 * adversarial-training scorecard row): a worker killed with -9 inside a defence shard, and a coordinator and worker
 * killed inside the scorecard job and re-run, give the in-process rows and stored results (timings aside).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { initEngine } from '../src/engine/index.js';
import {
  openStore,
  runCampaignLocal,
  validateCampaignSpec,
  type CampaignStatus,
  type CampaignStore,
} from '../src/api/campaign/index.js';
import { checkRedis, runCampaignOnQueue, takeTargetTokens, type QueueProgress } from '../src/api/campaign/queue.js';
import {
  freshDatabase,
  freshQueue,
  spawnWorker,
  startPostgres,
  startRedis,
  stopWorker,
  type WorkerProcess,
} from '../bench/campaign/cluster.js';
import { Redis } from 'ioredis';
import { loadModel } from '../src/models/io.js';
import { serveModel } from '../src/attacks/targets/model-server.js';
import { ROOT, cli, isCleanError } from './helpers.js';

const redis = startRedis();
const postgres = redis.url ? startPostgres() : { url: null, why: '' };
const skip = !redis.url
  ? `no Redis server could be started (${redis.why}); install Debian's redis-server or set MEDSHIELD_REDIS_URL`
  : !postgres.url
    ? `no PostgreSQL server could be started (${postgres.why}); install Debian's postgresql or set MEDSHIELD_PG_URL`
    : false;

const RAW = {
  name: 'queue-test',
  seed: 0,
  models: [{ ref: 'default' }],
  data: { dataset: 'pneumoniamnist', split: 'test', limit: 8 },
  attacks: [
    { attack: 'pgd', eps: ['2/255', '8/255'], steps: 8 },
    { attack: 'square', eps: ['8/255'], maxQueries: 20 },
  ],
  shardSize: 4,
};
const spec = validateCampaignSpec(RAW, 'test spec');
const JOBS = 6; // 3 attack × ε rows × 2 shards
const work = mkdtempSync(path.join(tmpdir(), 'medshield-queue-test-'));
const specFile = path.join(work, 'spec.json');
writeFileSync(specFile, JSON.stringify(RAW));
// Short lock and stall check so a killed worker's job is taken over within seconds.
const FAST = ['--threads', '1', '--lock-ms', '8000', '--stall-ms', '3000'];
const ENV = { MEDSHIELD_THREADS: '1' };

/**
 * The defence and scorecard jobs (issue 22, acceptance 2 for `defences:` and `scorecard:`): JPEG (q = 75) against
 * FGSM at 8/255 on 2 shards of 4 images and the cheapest scorecard row (adversarial-training, quick) — 3 jobs.
 */
const DEF_RAW = {
  name: 'queue-test-defences',
  seed: 0,
  models: [{ ref: 'default' }],
  data: { dataset: 'pneumoniamnist', split: 'test', limit: 8 },
  defences: [{ defence: 'jpeg', quality: 75, attacks: ['fgsm'], eps: ['8/255'] }],
  scorecard: { defences: ['adversarial-training'], eps: ['8/255'], quick: true },
  shardSize: 4,
};
const defSpec = validateCampaignSpec(DEF_RAW, 'test spec');
const DEF_KEYS = [
  'def.default.jpeg_q_75.fgsm.e8_255.s0000',
  'def.default.jpeg_q_75.fgsm.e8_255.s0001',
  'sc.default.adversarial-training.e8_255',
];
const defSpecFile = path.join(work, 'defences.json');
writeFileSync(defSpecFile, JSON.stringify(DEF_RAW));

let local: CampaignStatus;
let localDef: CampaignStatus;
/** The in-process run's stored job results (without timings), by job key. */
let localDefJobs: Record<string, unknown>;
const drops: Array<() => Promise<void>> = [];
const workers: WorkerProcess[] = [];

before(async () => {
  if (skip) return;
  await initEngine({ threads: 1 });
  const store = await openStore(path.join(work, 'local.db'));
  try {
    local = await runCampaignLocal(spec, { store });
  } finally {
    await store.close();
  }
  assert.equal(local.status, 'done');
  assert.equal(local.shards.done, JOBS);
  const defStore = await openStore(path.join(work, 'local-defences.db'));
  try {
    localDef = await runCampaignLocal(defSpec, { store: defStore });
    localDefJobs = storedJobs(await defStore.results(localDef.id));
  } finally {
    await defStore.close();
  }
  assert.equal(localDef.status, 'done');
  assert.deepEqual(Object.keys(localDefJobs).sort(), DEF_KEYS);
  assert.equal(localDef.defences.length, 1);
  assert.equal(localDef.scorecard.length, 1);
});

after(async () => {
  for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
  for (const d of drops) await d().catch(() => undefined);
});

const numbers = (s: CampaignStatus): unknown => s.results;

/** Wall-clock fields (and the plan's estimate, from a timed calibration): the only parts of a result that may differ. */
const TIMING = new Set(['seconds', 'timing', 'estimatedSeconds']);
function untimed(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(untimed);
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>)
        .filter(([k]) => !TIMING.has(k))
        .map(([k, x]) => [k, untimed(x)]),
    );
  return v;
}
/** A campaign's defence and scorecard rows without their seconds. */
const defNumbers = (s: CampaignStatus): unknown => untimed({ defences: s.defences, scorecard: s.scorecard });
/** Stored job results by key: the result object (counts; the scorecard row with its examples) and the job's seed. */
const storedJobs = (rows: Array<{ jobKey: string; seed: number; result: unknown }>): Record<string, unknown> =>
  Object.fromEntries(rows.map((r) => [r.jobKey, { seed: r.seed, result: untimed(r.result) }]));

async function counts(
  url: string,
): Promise<{ results: number; distinctJobs: number; samples: number; workers: Record<string, string> }> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query('SELECT COUNT(*)::int AS n, COUNT(DISTINCT job_key)::int AS d FROM results');
    const s = await c.query('SELECT COUNT(*)::int AS n FROM samples');
    const w = await c.query('SELECT job_key, worker_id FROM results');
    return {
      results: r.rows[0].n,
      distinctJobs: r.rows[0].d,
      samples: s.rows[0].n,
      workers: Object.fromEntries(w.rows.map((x) => [x.job_key, x.worker_id])),
    };
  } finally {
    await c.end();
  }
}

test('through Redis with 2 workers, one killed with -9 mid-job: the same numbers as in process, each result stored once', {
  skip,
}, async () => {
  const db = await freshDatabase(postgres.url!, 'queue');
  drops.push(db.drop);
  const queue = await freshQueue(redis.url!, 11);
  const a = spawnWorker(queue, db.url, FAST, ENV);
  const b = spawnWorker(queue, db.url, FAST, ENV);
  workers.push(a, b);
  const store: CampaignStore = await openStore(db.url);
  try {
    const run = runCampaignOnQueue(spec, { store, queueUrl: queue, pollMs: 500 });
    // Kill worker A with -9 while it is inside its second job.
    await a.waitFor((e) => e.type === 'done');
    const victim = await a.waitFor(
      (e) => e.type === 'started' && a.events.filter((x) => x.type === 'started').length >= 2,
    );
    a.child.kill('SIGKILL');
    await a.exited;
    const status = await run;
    assert.equal(status.status, 'done');
    assert.deepEqual(status.shards, { total: JOBS, done: JOBS, failed: 0 });
    assert.deepEqual(numbers(status), numbers(local));
    const c = await counts(db.url);
    assert.equal(c.results, JOBS);
    assert.equal(c.distinctJobs, JOBS);
    assert.equal(c.samples, 3 * 8);
    // The job A died in was finished by B. Exception: the kill landed between A's write and its acknowledgement —
    // then the result is A's, the campaign is complete from the store, and B, if it picks the stalled job up at
    // all, finds the result stored and writes nothing (no double count either way).
    const aId = (a.events[0] as { worker?: string }).worker;
    assert.ok(aId);
    const bDone = b.events.find((e) => e.type === 'done' && e.key === victim.key);
    assert.ok(
      !a.events.some((e) => e.type === 'done' && e.key === victim.key),
      'A never finished the job it was killed in',
    );
    if (c.workers[victim.key!] === aId) assert.ok(!bDone?.written, 'a result A stored is not written again');
    else assert.ok(bDone?.written, `B did not take over ${victim.key}`);
    assert.ok(
      b.events.some((e) => e.type === 'aggregated' && e.status?.state === 'done') ||
        a.events.some((e) => e.type === 'aggregated'),
    );
  } finally {
    await store.close();
    await stopWorker(b);
  }
});

test('a coordinator killed mid-run and started again enqueues only the jobs without a result; a wrong model sha256 is refused once', {
  skip,
}, async () => {
  const db = await freshDatabase(postgres.url!, 'queue');
  drops.push(db.drop);
  const queue = await freshQueue(redis.url!, 12);
  const w1 = spawnWorker(queue, db.url, FAST, ENV);
  workers.push(w1);
  const coord = spawn(
    process.execPath,
    [
      path.join(ROOT, 'bin', 'medshield.js'),
      'campaign',
      'run',
      specFile,
      '--store',
      db.url,
      '--queue',
      queue,
      '--json',
    ],
    {
      cwd: ROOT,
      env: { ...process.env, MEDSHIELD_OFFLINE: '1', MEDSHIELD_QUIET: '1' },
      stdio: 'ignore',
    },
  );
  const coordExit = new Promise((r) => coord.on('exit', r));
  // Stop everything (coordinator and worker, both with -9) after 2 results.
  await w1.waitFor((e) => e.type === 'done' && w1.events.filter((x) => x.type === 'done').length >= 2);
  coord.kill('SIGKILL');
  w1.child.kill('SIGKILL');
  await coordExit;
  await w1.exited;
  const before = await counts(db.url);
  assert.ok(before.results >= 2 && before.results < JOBS, `${before.results} results after the kill`);
  const w2 = spawnWorker(queue, db.url, FAST, ENV);
  const w3 = spawnWorker(queue, db.url, FAST, ENV);
  workers.push(w2, w3);
  const store = await openStore(db.url);
  try {
    const seen: QueueProgress[] = [];
    const status = await runCampaignOnQueue(spec, {
      store,
      queueUrl: queue,
      pollMs: 500,
      onProgress: (p) => seen.push(p),
    });
    assert.equal(seen[0].enqueued, JOBS - before.results, 'the re-run enqueued only the missing jobs');
    assert.equal(status.status, 'done');
    assert.deepEqual(numbers(status), numbers(local));
    const after = await counts(db.url);
    assert.equal(after.results, JOBS);
    assert.equal(after.distinctJobs, JOBS);
    // Results stored before the kill were not computed again.
    const rewritten = [...w2.events, ...w3.events].filter((e) => e.type === 'done' && e.written).map((e) => e.key!);
    assert.equal(rewritten.length, JOBS - before.results);
    for (const k of Object.keys(before.workers)) assert.ok(!rewritten.includes(k), `${k} was computed again`);
    for (const k of Object.keys(before.workers)) assert.equal(after.workers[k], before.workers[k]);
    // A model whose weights differ from the spec's sha256 is refused once, recorded, not retried.
    const wrong = validateCampaignSpec(
      {
        ...RAW,
        name: 'queue-test-sha',
        models: [{ ref: 'default', sha256: 'ab'.repeat(32) }],
        attacks: [{ attack: 'pgd', eps: ['8/255'], steps: 2 }],
        data: { ...RAW.data, limit: 4 },
      },
      'test spec',
    );
    const refused = await runCampaignOnQueue(wrong, { store, queueUrl: queue, pollMs: 500 });
    assert.equal(refused.status, 'failed');
    assert.deepEqual(refused.shards, { total: 1, done: 0, failed: 1 });
    const f = await store.failures(refused.id);
    assert.equal(f.length, 1);
    assert.equal(f[0].attempts, 1);
    assert.match(f[0].error, /weights sha256 .* the campaign expects abababababab/);
    assert.ok([...w2.events, ...w3.events].some((e) => e.type === 'failed' && e.final && /sha256/.test(e.error ?? '')));
  } finally {
    await store.close();
    await Promise.all([stopWorker(w2), stopWorker(w3)]);
  }
});

test('defence and scorecard jobs through Redis with 2 workers, one killed with -9 inside a defence shard: the same rows and stored results as in process, each stored once', {
  skip,
}, async () => {
  const db = await freshDatabase(postgres.url!, 'queue');
  drops.push(db.drop);
  const queue = await freshQueue(redis.url!, 15);
  const a = spawnWorker(queue, db.url, FAST, ENV);
  const b = spawnWorker(queue, db.url, FAST, ENV);
  workers.push(a, b);
  const store: CampaignStore = await openStore(db.url);
  try {
    const run = runCampaignOnQueue(defSpec, { store, queueUrl: queue, pollMs: 500 });
    // Kill the first worker that starts a defence shard (its first job: it is still loading the model) with -9.
    const inDefence = (e: { type: string; key?: string }): boolean =>
      e.type === 'started' && !!e.key?.startsWith('def.');
    const [victim, survivor, started] = await Promise.race([
      a.waitFor(inDefence).then((e) => [a, b, e] as const),
      b.waitFor(inDefence).then((e) => [b, a, e] as const),
    ]);
    victim.child.kill('SIGKILL');
    await victim.exited;
    const status = await run;
    assert.equal(status.status, 'done');
    assert.deepEqual(status.shards, { total: 3, done: 3, failed: 0 });
    assert.deepEqual(defNumbers(status), defNumbers(localDef));
    assert.deepEqual(storedJobs(await store.results(status.id)), localDefJobs);
    const c = await counts(db.url);
    assert.deepEqual([c.results, c.distinctJobs, c.samples], [3, 3, 0]);
    // The victim never finished its shard; the survivor wrote it (unless the kill landed between the victim's write
    // and its acknowledgement: then the survivor, if it ran the stalled job at all, wrote nothing).
    const vId = (victim.events[0] as { worker?: string }).worker;
    assert.ok(vId);
    assert.ok(!victim.events.some((e) => e.type === 'done' && e.key === started.key), 'the victim finished its job');
    const sDone = survivor.events.find((e) => e.type === 'done' && e.key === started.key);
    if (c.workers[started.key!] === vId) assert.ok(!sDone?.written, 'a result the victim stored is not written again');
    else assert.ok(sDone?.written, `the survivor did not take over ${started.key}`);
  } finally {
    await store.close();
    await Promise.all([stopWorker(a), stopWorker(b)]);
  }
});

test('defence and scorecard jobs: coordinator and worker killed with -9 inside the scorecard job, re-run: only the missing job is enqueued and written, the same rows as in process', {
  skip,
}, async () => {
  const db = await freshDatabase(postgres.url!, 'queue');
  drops.push(db.drop);
  const queue = await freshQueue(redis.url!, 10);
  const w1 = spawnWorker(queue, db.url, FAST, ENV);
  workers.push(w1);
  const coord = spawn(
    process.execPath,
    [
      path.join(ROOT, 'bin', 'medshield.js'),
      'campaign',
      'run',
      defSpecFile,
      '--store',
      db.url,
      '--queue',
      queue,
      '--json',
    ],
    { cwd: ROOT, env: { ...process.env, ...ENV, MEDSHIELD_OFFLINE: '1', MEDSHIELD_QUIET: '1' }, stdio: 'ignore' },
  );
  const coordExit = new Promise((r) => coord.on('exit', r));
  // One worker takes the jobs in order: both defence shards, then the scorecard job — killed (with the coordinator)
  // once it is inside it.
  const sc = await w1.waitFor((e) => e.type === 'started' && !!e.key?.startsWith('sc.'));
  coord.kill('SIGKILL');
  w1.child.kill('SIGKILL');
  await coordExit;
  await w1.exited;
  const before = await counts(db.url);
  assert.ok(!(sc.key! in before.workers), 'the scorecard job was killed before its result was stored');
  // (BullMQ hands out a queue's jobs in order: the two defence shards were stored before the kill.)
  assert.deepEqual(Object.keys(before.workers).sort(), DEF_KEYS.slice(0, 2), 'the defence shards were stored');
  const missing = [sc.key!];
  const w2 = spawnWorker(queue, db.url, FAST, ENV);
  workers.push(w2);
  const store = await openStore(db.url);
  try {
    const seen: QueueProgress[] = [];
    const status = await runCampaignOnQueue(defSpec, {
      store,
      queueUrl: queue,
      pollMs: 500,
      onProgress: (p) => seen.push(p),
    });
    assert.equal(seen[0].enqueued, missing.length, 'the re-run enqueued only the missing jobs');
    assert.equal(status.status, 'done');
    assert.deepEqual(defNumbers(status), defNumbers(localDef));
    assert.deepEqual(storedJobs(await store.results(status.id)), localDefJobs);
    const after = await counts(db.url);
    assert.deepEqual([after.results, after.distinctJobs, after.samples], [3, 3, 0]);
    // Only the missing job was computed and written again (of the killed flow's stalled scorecard job and the re-run's,
    // whichever w2 ran second found the result stored); the results stored before the kill were kept.
    const written = w2.events.filter((e) => e.type === 'done' && e.written).map((e) => e.key!);
    assert.deepEqual(written.sort(), missing);
    assert.ok(
      w2.events.every((e) => e.type !== 'started' || missing.includes(e.key!)),
      'a stored job ran again',
    );
    for (const k of Object.keys(before.workers)) assert.equal(after.workers[k], before.workers[k]);
  } finally {
    await store.close();
    await stopWorker(w2);
  }
});

test('token bucket per HTTP target: a burst is granted, then the wait is named; targets do not share a bucket', {
  skip,
}, async () => {
  const queue = await freshQueue(redis.url!, 13);
  const r = new Redis(queue);
  try {
    const rate = { perSecond: 10, burst: 100 };
    assert.equal(await takeTargetTokens(r, 'http://10.0.0.1:8500/v1/predict', 60, rate), 0);
    const wait = await takeTargetTokens(r, 'http://10.0.0.1:8500/v1/predict', 60, rate);
    assert.ok(wait > 1000 && wait <= 2000, `wait ${wait} ms for 20 missing tokens at 10/s`);
    assert.equal(await takeTargetTokens(r, 'http://10.0.0.2:8500/v1/predict', 60, rate), 0);
    // The same endpoint with credentials or a query string is the same target.
    assert.ok((await takeTargetTokens(r, 'http://user:pw@10.0.0.1:8500/v1/predict?x=1', 60, rate)) > 0);
  } finally {
    r.disconnect();
  }
});

test('an HTTP model (the model server) through Redis: the same numbers as in process; the per-target rate limiter delays a job', {
  skip,
}, async () => {
  const server = await serveModel(await loadModel('default'), { port: 0 });
  try {
    const raw = {
      name: 'queue-http',
      seed: 0,
      models: [{ ref: `${server.url}/predict`, name: 'api' }],
      data: { dataset: 'pneumoniamnist', split: 'test', limit: 4 },
      attacks: [{ attack: 'square', eps: ['8/255'], maxQueries: 20 }],
      shardSize: 2,
    };
    const hspec = validateCampaignSpec(raw, 'test spec');
    const lite = await openStore(path.join(work, 'http.db'));
    let here: CampaignStatus;
    try {
      here = await runCampaignLocal(hspec, { store: lite });
    } finally {
      await lite.close();
    }
    assert.equal(here.status, 'done');
    assert.equal(here.results[0].n, 4);
    const db = await freshDatabase(postgres.url!, 'queue');
    drops.push(db.drop);
    const queue = await freshQueue(redis.url!, 14);
    // each job may send 2 images × 20 queries = 40 = the whole bucket, refilled at 4 queries/s: the second job waits
    const w = spawnWorker(queue, db.url, [...FAST, '--target-rate', '4', '--target-burst', '40'], ENV);
    workers.push(w);
    const store = await openStore(db.url);
    try {
      const status = await runCampaignOnQueue(hspec, { store, queueUrl: queue, pollMs: 500 });
      assert.equal(status.status, 'done');
      assert.deepEqual(status.results, here.results);
      const delayed = w.events.filter((e) => e.type === 'delayed');
      assert.ok(delayed.length >= 1, `no job was delayed: ${JSON.stringify(w.events.map((e) => e.type))}`);
      assert.ok(
        delayed.every((e) => e.seconds! > 0 && e.seconds! <= 10),
        'a wait is the refill time of the missing tokens',
      );
      const done = w.events.filter((e) => e.type === 'done' && e.written).map((e) => e.key);
      assert.deepEqual(done.sort(), ['atk.api.square.e8_255.s0000', 'atk.api.square.e8_255.s0001']);
    } finally {
      await store.close();
      await stopWorker(w);
    }
  } finally {
    await server.close();
  }
});

test('worker: a bad queue URL or an unreachable Redis is one line and exit 2', { skip }, async () => {
  await assert.rejects(
    checkRedis('redis://127.0.0.1:1'),
    /cannot reach Redis at redis:\/\/127\.0\.0\.1:1: ECONNREFUSED/,
  );
  for (const q of ['http://127.0.0.1:6379', 'redis://:secret@127.0.0.1:1']) {
    const r = cli(['worker', '--queue', q, '--store', path.join(work, 'w.db')], { timeoutMs: 60_000 });
    assert.ok(isCleanError(r), `${q}: exit ${r.code}, stderr ${r.stderr}`);
    assert.ok(!r.stderr.includes('secret'), 'the password is not printed');
  }
});
