/**
 * A throw-away campaign cluster on this machine, for test/campaign-queue.test.ts and bench/campaign/run.ts:
 * Redis (scripts/start-redis.sh), PostgreSQL (scripts/start-postgres.sh) with a fresh database, and
 * `medshield worker` child processes whose JSON lines (one event per line) are collected.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { Redis } from 'ioredis';
import { PACKAGE_ROOT } from '../../src/version.js';
import type { WorkerEvent } from '../../src/api/campaign/queue.js';

/** Run a start script and read the URL it exports; null with the reason when the server binaries are absent. */
function startServer(script: string, variable: string): { url: string | null; why: string } {
  const r = spawnSync('bash', [path.join(PACKAGE_ROOT, 'scripts', script)], { encoding: 'utf8', timeout: 60_000 });
  const m = new RegExp(`${variable}=(\\S+)`).exec(r.stdout ?? '');
  return m ? { url: m[1], why: '' } : { url: null, why: (r.stderr || r.error?.message || `exit ${r.status}`).trim() };
}

export const startRedis = (): { url: string | null; why: string } =>
  process.env.MEDSHIELD_REDIS_URL
    ? { url: process.env.MEDSHIELD_REDIS_URL, why: '' }
    : startServer('start-redis.sh', 'MEDSHIELD_REDIS_URL');
export const startPostgres = (): { url: string | null; why: string } =>
  process.env.MEDSHIELD_PG_URL
    ? { url: process.env.MEDSHIELD_PG_URL, why: '' }
    : startServer('start-postgres.sh', 'MEDSHIELD_PG_URL');

/** A fresh database on the server of `adminUrl`; returns its URL and a dropper. */
export async function freshDatabase(
  adminUrl: string,
  tag = 'campaign',
): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `medshield_${tag}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    drop: async () => {
      const a = new pg.Client({ connectionString: adminUrl });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
    },
  };
}

/** The queue URL on Redis database `db` (so runs on one server do not share a queue), emptied first. */
export async function freshQueue(redisUrl: string, db: number): Promise<string> {
  const u = new URL(redisUrl);
  u.pathname = `/${db}`;
  const r = new Redis(u.toString(), { maxRetriesPerRequest: 1 });
  try {
    await r.flushdb();
  } finally {
    r.disconnect();
  }
  return u.toString();
}

export interface WorkerProcess {
  child: ChildProcess;
  events: WorkerEvent[];
  stderr: () => string;
  /** Resolves with the first event that matches (rejects when the process exits first). */
  waitFor: (match: (e: WorkerEvent) => boolean, timeoutMs?: number) => Promise<WorkerEvent>;
  exited: Promise<number | null>;
}

/** Spawn `medshield worker --json` with the given flags; its JSON lines become `events`. */
export function spawnWorker(
  queueUrl: string,
  storeUrl: string,
  extra: string[] = [],
  env: Record<string, string> = {},
): WorkerProcess {
  const child = spawn(
    process.execPath,
    [
      path.join(PACKAGE_ROOT, 'bin', 'medshield.js'),
      'worker',
      '--queue',
      queueUrl,
      '--store',
      storeUrl,
      '--json',
      ...extra,
    ],
    {
      cwd: PACKAGE_ROOT,
      env: { ...process.env, MEDSHIELD_OFFLINE: '1', MEDSHIELD_QUIET: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const events: WorkerEvent[] = [];
  const waiters: Array<{ match: (e: WorkerEvent) => boolean; resolve: (e: WorkerEvent) => void }> = [];
  let err = '';
  let buf = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      let e: WorkerEvent;
      try {
        e = JSON.parse(line) as WorkerEvent;
      } catch {
        continue;
      }
      events.push(e);
      for (const w of waiters.splice(0)) {
        if (w.match(e)) w.resolve(e);
        else waiters.push(w);
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    events,
    stderr: () => err,
    exited,
    waitFor: (match, timeoutMs = 600_000) => {
      const seen = events.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise<WorkerEvent>((resolve, reject) => {
        const t = setTimeout(
          () => reject(new Error(`worker: no matching event in ${timeoutMs} ms; stderr: ${err.slice(-400)}`)),
          timeoutMs,
        );
        waiters.push({
          match,
          resolve: (e) => {
            clearTimeout(t);
            resolve(e);
          },
        });
        void exited.then((code) => {
          clearTimeout(t);
          reject(new Error(`worker exited (${code}) before the event; stderr: ${err.slice(-400)}`));
        });
      });
    },
  };
}

/** Stop a worker with SIGTERM (graceful) and wait for it; SIGKILL after `graceMs`. */
export async function stopWorker(w: WorkerProcess, graceMs = 120_000): Promise<number | null> {
  if (w.child.exitCode !== null || w.child.signalCode !== null) return w.child.exitCode;
  w.child.kill('SIGTERM');
  const t = setTimeout(() => w.child.kill('SIGKILL'), graceMs);
  try {
    return await w.exited;
  } finally {
    clearTimeout(t);
  }
}
