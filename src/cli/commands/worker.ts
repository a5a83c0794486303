/**
 * `medshield worker --queue redis://… --store postgres://…` — run campaign jobs from the queue (src/worker).
 * The URLs can come from MEDSHIELD_QUEUE_URL and MEDSHIELD_STORE_URL instead, which keeps passwords out of
 * the process list (a systemd EnvironmentFile, a compose `environment:`).
 */
import { Option, type Command } from 'commander';
import { action, parseFloatArg, parseIntArg, startEngine, withCommon, type CommonOptions } from '../run.js';
import { serveWorker } from '../../worker/index.js';

interface WorkerOpts extends CommonOptions {
  queue: string;
  store: string;
  concurrency: number;
  lockMs?: number;
  stallMs?: number;
  targetRate?: number;
  targetBurst?: number;
}

export default function register(program: Command): void {
  withCommon(
    program
      .command('worker')
      .description('run campaign jobs from a Redis queue (BullMQ) into the shared results store, until SIGTERM')
      .addOption(
        new Option(
          '--queue <url>',
          'Redis: redis://[user:password@]host[:port][/db], or rediss://… for TLS (CA file in MEDSHIELD_REDIS_CA)',
        )
          .env('MEDSHIELD_QUEUE_URL')
          .makeOptionMandatory(),
      )
      .addOption(
        new Option(
          '--store <url>',
          'the results store the coordinator uses: postgres://… (sqlite:/path.db on one machine)',
        )
          .env('MEDSHIELD_STORE_URL')
          .makeOptionMandatory(),
      )
      .option(
        '--concurrency <n>',
        'jobs run at once by this process (default 1; use --threads for parallelism inside a job)',
        parseIntArg('--concurrency', 1, 64),
        1,
      )
      .option(
        '--lock-ms <ms>',
        "job lock duration: a dead worker's job is taken over after it (default 60000)",
        parseIntArg('--lock-ms', 1000, 86_400_000),
      )
      .option(
        '--stall-ms <ms>',
        'how often this worker looks for stalled jobs (default 30000)',
        parseIntArg('--stall-ms', 1000, 3_600_000),
      )
      .option(
        '--target-rate <q/s>',
        'queries per second to one HTTP target, over all workers (default 20)',
        parseFloatArg('--target-rate', 0.001, 1e6),
      )
      .option(
        '--target-burst <q>',
        'token bucket size for --target-rate (default 60 s of queries)',
        parseIntArg('--target-burst', 1, 1e9),
      ),
  ).action(
    action(async (o: WorkerOpts) => {
      await serveWorker({
        queue: o.queue,
        store: o.store,
        concurrency: o.concurrency,
        lockMs: o.lockMs,
        stallMs: o.stallMs,
        targetRate: o.targetRate,
        targetBurst: o.targetBurst,
        json: o.json,
        engine: () => startEngine({ ...o, json: true }),
      });
    }),
  );
}
