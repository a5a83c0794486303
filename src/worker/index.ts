/**
 * The `medshield worker` shell: connect to the campaign queue (Redis, BullMQ) and the shared results
 * store, then run jobs until SIGTERM/SIGINT — all the work is `startCampaignWorker` (src/api/campaign/queue.ts),
 * which runs each job with the same `runJob` as a local campaign. Prints one line per job on stdout (a JSON
 * object per line with --json) and its start, stop and connection problems on stderr.
 * Signals: the first SIGTERM/SIGINT stops taking jobs and lets the running ones finish; a second one puts
 * the running jobs back on the queue for another worker and exits at once.
 */
import { openStore } from '../api/campaign/store/index.js';
import {
  checkRedis,
  redactRedisUrl,
  redisOptions,
  startCampaignWorker,
  type WorkerEvent,
} from '../api/campaign/queue.js';

export interface WorkerShellOptions {
  queue: string;
  store: string;
  concurrency: number;
  lockMs?: number;
  stallMs?: number;
  targetRate?: number;
  targetBurst?: number;
  json?: boolean;
  /** Start the tensor engine (after the connections are checked, so a bad URL fails fast). */
  engine: () => Promise<{ backend: string; threads: number }>;
}

const out = (s: string): void => {
  process.stdout.write(s + '\n');
};
const err = (s: string): void => {
  process.stderr.write(s + '\n');
};

function line(e: WorkerEvent): string {
  const s = (x?: number): string => (x === undefined ? '?' : `${x.toFixed(2)} s`);
  switch (e.type) {
    case 'done':
      return (
        `done ${e.campaignId} ${e.key} ${s(e.runSeconds)} (in worker ${s(e.seconds)}, attempt ${e.attempt}` +
        `${e.written ? '' : ', result already written by another run'})`
      );
    case 'skipped':
      return `skipped ${e.campaignId} ${e.key} (result already stored)`;
    case 'delayed':
      return `delayed ${e.campaignId} ${e.key} ${s(e.seconds)} (target rate limit)`;
    case 'failed':
      return (
        `failed ${e.campaignId} ${e.key} attempt ${e.attempt}` + `${e.final ? ' (final)' : ' (will retry)'}: ${e.error}`
      );
    case 'aggregated':
      return (
        `aggregated ${e.campaignId} ${e.status?.state} ${e.status?.done}` +
        `/${e.status?.total} done, ${e.status?.failed} failed`
      );
    default:
      return `error: ${e.error}`;
  }
}

export async function serveWorker(o: WorkerShellOptions): Promise<void> {
  redisOptions(o.queue);
  await checkRedis(o.queue);
  const store = await openStore(o.store);
  let lastError = '';
  try {
    const engine = await o.engine();
    const w = await startCampaignWorker({
      queueUrl: o.queue,
      store,
      concurrency: o.concurrency,
      lockDurationMs: o.lockMs,
      stalledIntervalMs: o.stallMs,
      ...(o.targetRate || o.targetBurst
        ? {
            targetRate: {
              perSecond: o.targetRate ?? 20,
              burst: o.targetBurst ?? Math.max(1, Math.round((o.targetRate ?? 20) * 60)),
            },
          }
        : {}),
      onEvent: (e) => {
        if (e.type === 'error') {
          if (e.error !== lastError) err(`medshield worker: ${e.error}`);
          lastError = e.error ?? '';
          return;
        }
        lastError = '';
        if (e.type === 'started' && !o.json) return;
        out(o.json ? JSON.stringify({ worker: w.workerId, ...e }) : `medshield worker: ${line(e)}`);
      },
    });
    err(
      `medshield worker ${w.workerId}: waiting for jobs on ` +
        `${redactRedisUrl(o.queue)} (store ${store.where}; ${engine.backend}, ` +
        `${engine.threads} thread(s), concurrency ${o.concurrency})`,
    );
    let signals = 0;
    const stop = (sig: string): void => {
      signals++;
      if (signals === 1) {
        err(
          `medshield worker: ${sig}: finishing the running job(s), ` +
            `then stopping (${sig} again puts them back on the queue)`,
        );
        void w.close();
      } else {
        err(`medshield worker: ${sig}: putting the running job(s) back on the queue and stopping`);
        void w.release().finally(() => {
          void store.close().finally(() => process.exit(0));
        });
      }
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
    await w.stopped;
    err('medshield worker: stopped');
  } finally {
    await store.close();
  }
}
