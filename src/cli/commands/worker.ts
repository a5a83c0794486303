/**
 * `medshield worker --queue redis://… --store postgres://…` — run campaign jobs from the queue (src/worker).
 * The URLs can come from MEDSHIELD_QUEUE_URL and MEDSHIELD_STORE_URL instead, which keeps passwords out of
 * the process list (a systemd EnvironmentFile, a compose `environment:`).
 */
import type { Command } from 'commander';
import { action, startEngine, withCommon, type CommonOptions } from '../run.js';
import { addFlags, pick } from '../flags.js';
import { serveWorker, type WorkerShellOptions } from '../../worker/index.js';

type WorkerCli = CommonOptions & Omit<WorkerShellOptions, 'engine'>;

const FLAGS = {
  '--queue <url>; env MEDSHIELD_QUEUE_URL; required':
    'Redis: redis://[user:password@]host[:port][/db], or rediss://… for TLS (CA file in MEDSHIELD_REDIS_CA)',
  '--store <url>; env MEDSHIELD_STORE_URL; required':
    'the results store the coordinator uses: postgres://… (sqlite:/path.db on one machine)',
  '--concurrency <n>; int 1..64; default 1':
    'jobs run at once by this process (default 1; use --threads for parallelism inside a job)',
  '--lock-ms <ms>; int 1000..86400000': "job lock duration: a dead worker's job is taken over after it (default 60000)",
  '--stall-ms <ms>; int 1000..3600000': 'how often this worker looks for stalled jobs (default 30000)',
  '--target-rate <q/s>; num 0.001..1e6': 'queries per second to one HTTP target, over all workers (default 20)',
  '--target-burst <q>; int 1..1e9': 'token bucket size for --target-rate (default 60 s of queries)',
};

export default function register(program: Command): void {
  const about = 'run campaign jobs from a Redis queue (BullMQ) into the shared results store, until SIGTERM';
  withCommon(addFlags(program.command('worker').description(about), FLAGS)).action(
    action(async (o: WorkerCli) => {
      const opts = pick<WorkerShellOptions>(o, 'queue store concurrency lockMs stallMs targetRate targetBurst json');
      await serveWorker({ ...opts, engine: () => startEngine({ ...o, json: true }) });
    }),
  );
}
