/**
 * Distributed campaign execution on BullMQ over Redis (issue 22, item 4): the coordinator
 * (`runCampaignOnQueue`, behind `medshield campaign run --queue URL`) plans the campaign, writes it to the
 * store and enqueues the jobs that have no stored result as the children of one BullMQ flow; workers
 * (`startCampaignWorker`, behind `medshield worker`) run each child with `runJob` — the same code as a
 * local run, so a distributed run gives the same numbers — and the flow's parent, processed by a worker
 * once every child has finished, aggregates the campaign's state from the store.
 *
 * Reliability (BullMQ docs, "Stalled jobs", "Retrying failing jobs", "Flows"):
 * - a worker holds a lock on its job for `lockDurationMs` (default 60 s). A job's computation is
 *   synchronous for long stretches (native kernels; a whole shard may not yield), so BullMQ's own renewal
 *   timer on the main thread cannot be relied on: a small thread of the worker (its own Redis connection)
 *   renews the lock every third of its duration while the job runs, whatever the main thread does. A worker
 *   killed with -9 stops renewing, and the stalled-job check (every `stalledIntervalMs`, default 30 s, by any
 *   worker) moves its job back to the wait list, so another worker picks it up within lockDuration +
 *   stalledInterval. A job found stalled more than `maxStalledCount` (default 2) times fails;
 * - a job that throws is retried `attempts` times (default 3) with exponential backoff from `backoffMs`
 *   (default 5 s: 5, 10, 20 s…); a job refused for good (weights sha256 differs from the job's, the
 *   campaign is not in this worker's store, a bad spec) fails at once (UnrecoverableError), and every failed
 *   attempt is recorded in the store's failures table. A failed child does not block the parent
 *   (`ignoreDependencyOnFailure`): the campaign ends `failed` with the failure named;
 * - results are written once (insert-if-absent on campaign × job key), so a job run twice never counts
 *   twice; a worker skips a job whose result is already stored, and a re-run of the coordinator enqueues only
 *   the jobs without a result, after removing the not-yet-started children of its previous flow.
 * Rate limit: jobs against an HTTP black-box target (a model ref that is an http(s) URL) first take tokens
 * from a token bucket in Redis keyed by the target URL — one token per query the job may send (images ×
 * query budget), refilled at `targetRate.perSecond` up to `targetRate.burst` — so all workers together keep
 * a target's long-run query rate at or under the limit; a job that finds the bucket short is put back as
 * delayed (not counted as an attempt) for the time the bucket needs to refill.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { Worker as Thread } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { DelayedError, FlowProducer, Job as QueueJob, Queue, UnrecoverableError, Worker } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { getAttack } from '../../attacks/registry.js';
import { MedshieldError, badArgument, oneLine } from '../../errors.js';
import type { CampaignSpec } from './spec.js';
import type { CampaignStore } from './store/types.js';
import { prepareCampaign, type CampaignPlan, type Job } from './plan.js';
import { runJob } from './shard.js';
import { registerCampaign } from './local.js';
import { campaignStatus, type CampaignStatus } from './aggregate.js';

/** The BullMQ queue every coordinator and worker of one deployment shares (one queue per results store). */
export const QUEUE_NAME = 'medshield-campaign';
/** Redis key prefix of BullMQ's keys and of the rate limiter's buckets. */
const PREFIX = 'medshield';

export const QUEUE_DEFAULTS = {
  lockDurationMs: 60_000,
  stalledIntervalMs: 30_000,
  maxStalledCount: 2,
  attempts: 3,
  backoffMs: 5_000,
  /** Queries per second, and bucket size, for one HTTP target over all workers. */
  targetRate: { perSecond: 20, burst: 1_200 },
} as const;

/** Redis URL with the password masked, for messages. */
export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}

/**
 * ioredis options for a queue URL: redis://[user:password@]host[:port][/db] or rediss://… (TLS; the
 * server certificate is checked against the system CAs, or the PEM file in MEDSHIELD_REDIS_CA).
 * Throws BAD_ARGUMENT naming what is wrong.
 */
export interface QueueConnection {
  url: string;
  maxRetriesPerRequest: null;
  connectTimeout: number;
  tls?: { servername: string; ca?: Buffer };
}

export function redisOptions(url: string): QueueConnection {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw badArgument(`--queue must be a redis:// or rediss:// URL, got '${url}'`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw badArgument(`--queue must be a redis:// or rediss:// URL, got a ${u.protocol.replace(':', '')}: URL`);
  }
  if (!u.hostname) throw badArgument(`--queue URL ${redactRedisUrl(url)} names no host`);
  const db = u.pathname.replace(/^\//, '');
  if (db && !/^\d{1,2}$/.test(db))
    throw badArgument(`--queue URL ${redactRedisUrl(url)}: the path must be a database number, got '/${db}'`);
  const opts: QueueConnection = { url, maxRetriesPerRequest: null, connectTimeout: 10_000 };
  if (u.protocol === 'rediss:') {
    const caFile = process.env.MEDSHIELD_REDIS_CA;
    let ca: Buffer | undefined;
    if (caFile) {
      try {
        ca = readFileSync(caFile);
      } catch (e) {
        throw badArgument(`MEDSHIELD_REDIS_CA '${caFile}': ${oneLine(e)}`);
      }
    }
    opts.tls = { servername: u.hostname, ...(ca ? { ca } : {}) };
  }
  return opts;
}

/** A plain ioredis client on a queue connection (for the flow key and the rate limiter). */
function newRedis(c: QueueConnection): Redis {
  const { url, ...rest } = c;
  const r = new Redis(url, rest as RedisOptions);
  r.on('error', () => {
    /* BullMQ's own connections report */
  });
  return r;
}

/** Connect once and PING, failing fast (one line, NETWORK) when Redis is unreachable or refuses the password. */
export async function checkRedis(url: string, timeoutMs = 10_000): Promise<void> {
  const { url: u, ...o } = redisOptions(url);
  const r = new Redis(u, {
    ...o,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: timeoutMs,
  });
  let first: unknown;
  r.on('error', (e) => {
    first ??= e;
  });
  try {
    await r.connect();
    await r.ping();
  } catch (e) {
    const cause = first ?? e;
    const code = (cause as NodeJS.ErrnoException).code;
    const why = code && /^E[A-Z]+$/.test(code) ? code : oneLine(cause);
    throw new MedshieldError('NETWORK', `cannot reach Redis at ${redactRedisUrl(url)}: ${why}`, { cause });
  } finally {
    r.disconnect();
  }
}

const TOKEN_BUCKET = `
local rate = tonumber(ARGV[1]); local burst = tonumber(ARGV[2]); local cost = tonumber(ARGV[3])
local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1]); local ts = tonumber(b[2])
if tokens == nil or ts == nil then tokens = burst; ts = now end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
local wait = 0
if tokens >= cost then tokens = tokens - cost else wait = math.ceil((cost - tokens) * 1000 / rate) end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 60000)
return wait`;

/** The Redis key of a target's token bucket: the URL's origin and path (no credentials, no query). */
export function targetBucketKey(targetUrl: string): string {
  const u = new URL(targetUrl);
  return `${PREFIX}:rate:${createHash('sha256').update(`${u.origin}${u.pathname}`).digest('hex').slice(0, 32)}`;
}

/**
 * Take `cost` tokens from the bucket of `targetUrl` (capped at the bucket size); returns 0 when taken,
 * else the milliseconds until the bucket holds enough (nothing is taken then). Redis's own clock is
 * used, so workers on machines with skewed clocks share one bucket correctly.
 */
export async function takeTargetTokens(
  redis: Redis,
  targetUrl: string,
  cost: number,
  rate: { perSecond: number; burst: number } = QUEUE_DEFAULTS.targetRate,
): Promise<number> {
  if (!(rate.perSecond > 0) || !(rate.burst >= 1))
    throw badArgument(`target rate must be > 0 per second with a burst ≥ 1, got ${rate.perSecond}/${rate.burst}`);
  const c = Math.min(Math.max(1, Math.ceil(cost)), rate.burst);
  return Number(await redis.eval(TOKEN_BUCKET, 1, targetBucketKey(targetUrl), rate.perSecond, rate.burst, c));
}

/** The HTTP target a job queries, if its model ref is an http(s) URL (the rate limiter's key). */
export function jobTarget(job: Job): string | null {
  return /^https?:\/\//i.test(job.model.ref) ? job.model.ref : null;
}

/** Queries a job may send to its target: images × query budget (one token each). */
export function jobQueries(job: Job): number {
  if (job.kind !== 'attack') return 1;
  const budget = job.attack.maxQueries ?? getAttack(job.attack.attack).defaultSteps;
  return Math.max(1, (job.range[1] - job.range[0]) * budget);
}

/** What a child job carries: the job itself (self-contained) and the campaign it belongs to. */
interface ChildData {
  campaignId: string;
  specHash: string;
  job: Job;
}
interface ParentData {
  campaignId: string;
  total: number;
}

const DAY_S = 86_400;
const flowKey = (campaignId: string): string => `${PREFIX}:campaign:${campaignId}:flow`;
const isRefusal = (e: unknown): boolean =>
  e instanceof MedshieldError &&
  ['MISMATCH', 'CHECKSUM', 'BAD_INPUT', 'BAD_ARGUMENT', 'NOT_FOUND', 'UNSUPPORTED'].includes(e.code);

export interface QueueProgress {
  /** Jobs with a stored result, failed jobs without one, jobs in the campaign, jobs this run enqueued. */
  done: number;
  failed: number;
  total: number;
  enqueued: number;
  /** Workers connected to the queue now. */
  workers: number;
  elapsedSeconds: number;
}

export interface QueueRunOptions {
  store: CampaignStore;
  /** redis://… or rediss://… (`queue` is accepted as its alias). */
  queueUrl?: string;
  queue?: string;
  /** A plan made earlier (default: `prepareCampaign(spec)`, which pins each model's weights sha256). */
  plan?: CampaignPlan;
  onProgress?: (p: QueueProgress) => void;
  /** Store polls for progress (default 1000 ms). */
  pollMs?: number;
  attempts?: number;
  backoffMs?: number;
  /** Stop waiting when aborted (the flow stays in Redis; workers go on; a re-run resumes). */
  signal?: AbortSignal;
}

/**
 * Remove what is left of a previous run's flow: its children that no worker has started, then the parent.
 * A child a worker is running keeps its lock and finishes (its result is written once, or it is skipped).
 */
async function retireFlow(queue: Queue, parentId: string): Promise<void> {
  const parent = await QueueJob.fromId(queue, parentId);
  if (!parent) return;
  const state = await parent.getState();
  if (state === 'completed' || state === 'failed') return;
  try {
    await parent.remove({ removeChildren: true });
    return;
  } catch {
    /* a child is running: keep it */
  }
  try {
    await parent.removeUnprocessedChildren();
  } catch {
    /* best effort */
  }
  try {
    await parent.remove({ removeChildren: false });
  } catch {
    /* it aggregates harmlessly when that child ends */
  }
}

/**
 * Run a campaign through the queue: plan, record the campaign in the store, enqueue the jobs without a
 * stored result as the children of one flow, wait for its parent (the aggregation) while reporting
 * done/total from the store, and return the campaign's status. Workers must share `store`.
 */
export async function runCampaignOnQueue(spec: CampaignSpec, o: QueueRunOptions): Promise<CampaignStatus> {
  const url = o.queueUrl ?? o.queue;
  if (!url) throw badArgument('no queue given: pass a redis:// or rediss:// URL');
  const connection = redisOptions(url);
  await checkRedis(url);
  const t0 = performance.now();
  const plan = o.plan ?? (await prepareCampaign(spec));
  const { store } = o;
  await registerCampaign(store, plan);
  await store.setCampaignState(plan.id, 'running');
  const done0 = await store.doneKeys(plan.id);
  const missing = plan.jobs.filter((j) => !done0.has(j.key));
  const queue = new Queue(QUEUE_NAME, { connection, prefix: PREFIX });
  const redis = newRedis(connection);
  let parentId: string | null = null;
  try {
    const prev = await redis.get(flowKey(plan.id));
    if (prev) await retireFlow(queue, prev);
    if (missing.length) {
      const nonce = randomBytes(4).toString('hex');
      parentId = `${plan.id}.${nonce}.aggregate`;
      const attempts = o.attempts ?? QUEUE_DEFAULTS.attempts;
      const backoff = { type: 'exponential', delay: o.backoffMs ?? QUEUE_DEFAULTS.backoffMs };
      // Remember the flow before adding it: a coordinator killed in between leaves nothing a re-run would not retire.
      await redis.set(flowKey(plan.id), parentId, 'EX', 30 * DAY_S);
      const producer = new FlowProducer({ connection, prefix: PREFIX });
      try {
        await producer.add({
          name: 'aggregate',
          queueName: QUEUE_NAME,
          data: { campaignId: plan.id, total: plan.jobs.length } satisfies ParentData,
          opts: { jobId: parentId, removeOnComplete: { age: 7 * DAY_S }, removeOnFail: { age: 7 * DAY_S } },
          children: missing.map((job) => ({
            name: 'job',
            queueName: QUEUE_NAME,
            data: { campaignId: plan.id, specHash: plan.specHash, job } satisfies ChildData,
            opts: {
              jobId: `${plan.id}.${nonce}.${job.key}`,
              attempts,
              backoff,
              ignoreDependencyOnFailure: true,
              removeOnComplete: { age: DAY_S },
              removeOnFail: { age: 7 * DAY_S },
            },
          })),
        });
      } finally {
        await producer.close();
      }
    }
    const total = plan.jobs.length;
    for (;;) {
      const keys = await store.doneKeys(plan.id);
      const done = keys.size;
      const failed = (await store.failures(plan.id)).filter((f) => !keys.has(f.jobKey)).length;
      const state = parentId ? await queue.getJobState(parentId) : 'completed';
      const workers = await queue.getWorkersCount().catch(() => 0);
      o.onProgress?.({
        done,
        failed,
        total,
        enqueued: missing.length,
        workers,
        elapsedSeconds: (performance.now() - t0) / 1000,
      });
      if (state === 'completed' || state === 'failed' || (state === 'unknown' && done >= total)) break;
      if (o.signal?.aborted)
        throw new MedshieldError(
          'INTERNAL',
          `stopped waiting for campaign ${plan.id}; its jobs stay queued (re-run to resume)`,
        );
      await new Promise((r) => setTimeout(r, o.pollMs ?? 1000));
    }
    const st0 = await campaignStatus(store, plan.id);
    await store.setCampaignState(
      plan.id,
      st0.shards.done >= total ? 'done' : 'failed',
      (performance.now() - t0) / 1000,
    );
    return await campaignStatus(store, plan.id);
  } finally {
    redis.disconnect();
    await queue.close();
  }
}

export interface WorkerEvent {
  type: 'started' | 'done' | 'skipped' | 'failed' | 'delayed' | 'aggregated' | 'error';
  campaignId?: string;
  key?: string;
  /** Wall seconds in the worker's processor, and inside runJob. */
  seconds?: number;
  runSeconds?: number;
  /** Epoch ms when the processor started and ended (for the benchmark's overhead figure). */
  startedAt?: number;
  endedAt?: number;
  attempt?: number;
  final?: boolean;
  error?: string;
  /** done: whether this run wrote the result (false: another run of the same job had written it first). */
  written?: boolean;
  status?: { done: number; total: number; failed: number; state: string };
}

export interface CampaignWorkerOptions {
  queueUrl: string;
  store: CampaignStore;
  concurrency?: number;
  workerId?: string;
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  maxStalledCount?: number;
  targetRate?: { perSecond: number; burst: number };
  onEvent?: (e: WorkerEvent) => void;
}

export interface CampaignWorker {
  readonly workerId: string;
  /** Resolves when the worker has stopped. */
  readonly stopped: Promise<void>;
  /** Stop taking jobs and wait for the running ones to finish. */
  close(): Promise<void>;
  /** Put the running jobs back on the queue at once (for another worker) and stop. */
  release(): Promise<void>;
}

/**
 * The lock keeper: a thread with its own Redis connection that extends the locks of the jobs this worker
 * runs (BullMQ's extendLock script: the lock is extended only while it still holds our token, and the job
 * leaves the stalled candidates), so a job whose computation blocks the main thread keeps its lock.
 */
const KEEPER =
  `
const { parentPort, workerData: w } = require('node:worker_threads');
const { Redis } = require(w.ioredis);
const r = new Redis(w.url, w.opts);
r.on('error', () => {});
r.on('ready', () => parentPort.postMessage('ready'));
const held = new Map();
const SCRIPT = "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]); "
  + "redis.call('SREM', KEYS[2], ARGV[3]); return 1 end return 0";
const base = w.prefix + ':' + w.queue + ':';
const timer = setInterval(() => {
  for (const [id, token] of held) r.eval(SCRIPT, 2, base + id + ':lock', base + 'stalled', token, w.lockMs, id)` +
  `.catch(() => {});
}, w.everyMs);
parentPort.on('message', (m) => {
  if (m.op === 'hold') held.set(m.id, m.token);
  else if (m.op === 'drop') held.delete(m.id);
  else { clearInterval(timer); r.disconnect(); parentPort.close(); }
});`;

async function lockKeeper(c: QueueConnection, lockMs: number): Promise<Thread> {
  const { url, ...opts } = c;
  const t = new Thread(KEEPER, {
    eval: true,
    workerData: {
      ioredis: createRequire(import.meta.url).resolve('ioredis'),
      url,
      opts,
      prefix: PREFIX,
      queue: QUEUE_NAME,
      lockMs,
      everyMs: Math.max(500, Math.floor(lockMs / 3)),
    },
  });
  t.unref();
  // Start taking jobs once the keeper is connected (or after 30 s: BullMQ's own renewal still runs).
  await new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(done, 30_000);
    t.once('message', done);
    t.once('error', done);
  });
  return t;
}

/** The parent of a flow: every child has ended; set the campaign's state from the store. */
async function aggregate(store: CampaignStore, job: QueueJob<ParentData>): Promise<WorkerEvent['status']> {
  const { campaignId } = job.data;
  const c = await store.getCampaign(campaignId);
  if (!c) throw new UnrecoverableError(`campaign ${campaignId} is not in this worker's store (${store.where})`);
  const done = await store.doneKeys(campaignId);
  const failedHere = Object.keys(await job.getIgnoredChildrenFailures()).length;
  const total = c.jobsTotal;
  const state = done.size >= total ? 'done' : done.size + failedHere >= total ? 'failed' : 'running';
  if (state !== 'running') await store.setCampaignState(campaignId, state);
  return { done: done.size, total, failed: failedHere, state };
}

/**
 * Start a worker: it takes jobs from the queue until closed, runs each with `runJob` (results written to
 * `store` once), and processes flow parents (aggregation). Fails fast (NETWORK, one line) when Redis is
 * unreachable.
 */
export async function startCampaignWorker(o: CampaignWorkerOptions): Promise<CampaignWorker> {
  const connection = redisOptions(o.queueUrl);
  await checkRedis(o.queueUrl);
  const workerId = o.workerId ?? `${hostname()}:${process.pid}`;
  const emit = (e: WorkerEvent): void => {
    try {
      o.onEvent?.(e);
    } catch {
      /* a printer never stops the worker */
    }
  };
  const running = new Map<string, { job: QueueJob; token?: string }>();
  const lockMs = o.lockDurationMs ?? QUEUE_DEFAULTS.lockDurationMs;
  const keeper = await lockKeeper(connection, lockMs);
  let limiter: Redis | null = null;
  /** Campaigns found in the store, with their spec hash (checked once per campaign). */
  const known = new Map<string, string>();
  const processor = async (job: QueueJob, token?: string): Promise<unknown> => {
    const startedAt = Date.now();
    if (job.name === 'aggregate') {
      const status = await aggregate(o.store, job as QueueJob<ParentData>);
      emit({
        type: 'aggregated',
        campaignId: (job.data as ParentData).campaignId,
        status,
        startedAt,
        endedAt: Date.now(),
      });
      return status;
    }
    const { campaignId, specHash, job: work } = job.data as ChildData;
    if (known.get(campaignId) !== specHash) {
      const c = await o.store.getCampaign(campaignId);
      if (!c)
        throw new UnrecoverableError(
          `campaign ${campaignId} is not in this worker's store (${o.store.where}); one queue serves one store`,
        );
      if (c.specHash !== specHash)
        throw new UnrecoverableError(`campaign ${campaignId}: the job's spec hash differs from the stored campaign's`);
      known.set(campaignId, specHash);
    }
    const target = jobTarget(work);
    if (target) {
      limiter ??= newRedis(connection);
      const wait = await takeTargetTokens(limiter, target, jobQueries(work), o.targetRate ?? QUEUE_DEFAULTS.targetRate);
      if (wait > 0) {
        await job.moveToDelayed(Date.now() + wait, token);
        emit({ type: 'delayed', campaignId, key: work.key, seconds: wait / 1000 });
        throw new DelayedError();
      }
    }
    running.set(job.id!, { job, token });
    keeper.postMessage({ op: 'hold', id: job.id, token });
    emit({ type: 'started', campaignId, key: work.key, startedAt, attempt: job.attemptsMade + 1 });
    try {
      const r = await runJob(work, { store: o.store, campaignId, specHash, workerId });
      const endedAt = Date.now();
      emit({
        type: r.skipped ? 'skipped' : 'done',
        campaignId,
        key: work.key,
        seconds: (endedAt - startedAt) / 1000,
        runSeconds: r.seconds,
        startedAt,
        endedAt,
        attempt: job.attemptsMade + 1,
        written: r.written,
      });
      return { key: work.key, written: r.written, skipped: r.skipped, seconds: r.seconds };
    } catch (e) {
      if (isRefusal(e)) throw new UnrecoverableError(oneLine(e));
      throw e;
    } finally {
      running.delete(job.id!);
      keeper.postMessage({ op: 'drop', id: job.id });
    }
  };
  const worker = new Worker(QUEUE_NAME, processor, {
    connection,
    prefix: PREFIX,
    name: workerId,
    autorun: false,
    concurrency: o.concurrency ?? 1,
    lockDuration: lockMs,
    stalledInterval: o.stalledIntervalMs ?? QUEUE_DEFAULTS.stalledIntervalMs,
    maxStalledCount: o.maxStalledCount ?? QUEUE_DEFAULTS.maxStalledCount,
  });
  worker.on('failed', (job, err) => {
    if (!job || err instanceof DelayedError || err.name === 'DelayedError') return;
    const data = job.data as Partial<ChildData> & Partial<ParentData>;
    const final =
      err instanceof UnrecoverableError ||
      err.name === 'UnrecoverableError' ||
      job.attemptsMade >= (job.opts.attempts ?? 1);
    emit({
      type: 'failed',
      campaignId: data.campaignId,
      key: data.job?.key ?? job.name,
      attempt: job.attemptsMade,
      final,
      error: oneLine(err),
    });
  });
  worker.on('error', (err) => emit({ type: 'error', error: oneLine(err) }));
  const stopped = worker.run().then(() => undefined);
  await worker.waitUntilReady();
  return {
    workerId,
    stopped,
    close: async () => {
      await worker.close();
      limiter?.disconnect();
      keeper.postMessage({ op: 'stop' });
    },
    release: async () => {
      if (!running.size) {
        await worker.close();
      } else {
        for (const { job, token } of running.values()) await job.moveToWait(token).catch(() => undefined);
        await worker.close(true);
      }
      limiter?.disconnect();
      keeper.postMessage({ op: 'stop' });
    },
  };
}
