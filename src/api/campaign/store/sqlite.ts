/**
 * SQLite campaign store on node-sqlite3-wasm (the driver the gateway's audit log uses; see
 * src/gateway/audit/sqlite.ts for why). Unlike the audit log, a campaign database is shared: a run
 * writes while `campaign status` or the dashboard reads, so it keeps SQLite's default rollback journal
 * and normal locking (the wasm VFS has no shared-memory index for WAL), and every statement retries
 * while another process holds the lock (SQLITE_BUSY, up to ~40 s). The VFS locks with a `<db>.lock`
 * directory; one left behind by a killed process (older than 30 s: transactions here are short) is removed.
 */
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { Database as Db } from 'node-sqlite3-wasm';
import { badInput, oneLine } from '../../../errors.js';
import {
  RESULT_COLUMNS,
  SAMPLE_COLUMNS,
  resultValues,
  sampleValues,
  sampleWhere,
  schemaSql,
  toCampaign,
  toResult,
  toSample,
  type CampaignRow,
  type CampaignState,
  type CampaignStore,
  type JobFailure,
  type JobResultRow,
  type SampleImageRow,
  type SampleQuery,
  type SampleRow,
} from './types.js';

const require = createRequire(import.meta.url);

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function clearStaleLock(file: string): void {
  const lock = `${file}.lock`;
  try {
    if (existsSync(lock) && Date.now() - statSync(lock).mtimeMs > 30_000)
      rmSync(lock, { recursive: true, force: true });
  } catch {
    /* raced */
  }
}

export class SqliteCampaignStore implements CampaignStore {
  readonly kind = 'sqlite' as const;
  private constructor(
    private db: Db,
    readonly where: string,
  ) {}

  static open(file: string): SqliteCampaignStore {
    const { Database } = require('node-sqlite3-wasm') as typeof import('node-sqlite3-wasm');
    try {
      mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    } catch (e) {
      throw badInput(`cannot create the folder of campaign store '${file}': ${oneLine(e)}`);
    }
    clearStaleLock(file);
    let db: Db;
    try {
      db = new Database(file);
    } catch (e) {
      throw badInput(`cannot open campaign store '${file}': ${oneLine(e)}`);
    }
    const s = new SqliteCampaignStore(db, file);
    try {
      s.retry(() => db.exec(schemaSql('BLOB', 'REAL')));
    } catch (e) {
      db.close();
      throw badInput(`'${file}' is not a usable SQLite campaign store (${oneLine(e)})`);
    }
    return s;
  }

  /** Run `fn`, retrying while another process holds the lock. */
  private retry<T>(fn: () => T): T {
    for (let i = 0; ; i++) {
      try {
        return fn();
      } catch (e) {
        if (!/locked|busy/i.test((e as Error).message)) throw e;
        // up to ~40 s: past the 30 s after which a lock left by a killed process is removed
        if (i >= 4000) throw badInput(`campaign store '${this.where}' stays locked by another process (${oneLine(e)})`);
        if (i % 100 === 99) clearStaleLock(this.where);
        sleepSync(10);
      }
    }
  }

  /** A write transaction (BEGIN IMMEDIATE … COMMIT), retried as a whole while the database is busy. */
  private tx<T>(fn: () => T): T {
    return this.retry(() => {
      this.db.exec('BEGIN IMMEDIATE');
      try {
        const v = fn();
        this.db.exec('COMMIT');
        return v;
      } catch (e) {
        try {
          this.db.exec('ROLLBACK');
        } catch {
          /* already rolled back */
        }
        throw e;
      }
    });
  }

  async createCampaign(c: CampaignRow): Promise<boolean> {
    return this.tx(
      () =>
        this.db.run(
          'INSERT OR IGNORE INTO campaigns (id, name, spec_hash, spec, jobs_total, state, created_at, updated_at, seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
          [c.id, c.name, c.specHash, JSON.stringify(c.spec), c.jobsTotal, c.state, c.createdAt, c.updatedAt, c.seconds],
        ).changes > 0,
    );
  }

  async getCampaign(id: string): Promise<CampaignRow | null> {
    const r = this.retry(() => this.db.get('SELECT * FROM campaigns WHERE id = ?', [id]));
    return r ? toCampaign(r as Record<string, unknown>) : null;
  }

  async listCampaigns(): Promise<CampaignRow[]> {
    return this.retry(() => this.db.all('SELECT * FROM campaigns ORDER BY created_at, id')).map((r) =>
      toCampaign(r as Record<string, unknown>),
    );
  }

  async setCampaignState(id: string, state: CampaignState, addSeconds = 0): Promise<void> {
    this.tx(() =>
      this.db.run('UPDATE campaigns SET state = ?, seconds = seconds + ?, updated_at = ? WHERE id = ?', [
        state,
        addSeconds,
        new Date().toISOString(),
        id,
      ]),
    );
  }

  async putResult(r: JobResultRow, samples: SampleRow[] = [], images: SampleImageRow[] = []): Promise<boolean> {
    return this.tx(() => {
      const ins = this.db.run(
        `INSERT OR IGNORE INTO results (${RESULT_COLUMNS.join(', ')}) VALUES (${RESULT_COLUMNS.map(() => '?').join(', ')})`,
        resultValues(r),
      );
      if (!ins.changes) return false;
      if (samples.length) {
        const st = this.db.prepare(
          `INSERT OR IGNORE INTO samples (${SAMPLE_COLUMNS.join(', ')}) VALUES (${SAMPLE_COLUMNS.map(() => '?').join(', ')})`,
        );
        try {
          for (const s of samples) st.run(sampleValues(r.campaignId, s));
        } finally {
          st.finalize();
        }
      }
      if (images.length) {
        const st = this.db.prepare(
          'INSERT OR IGNORE INTO sample_images (campaign_id, sample_key, clean, adversarial, difference) VALUES (?, ?, ?, ?, ?)',
        );
        try {
          for (const m of images) st.run([r.campaignId, m.sampleKey, m.clean, m.adversarial, m.difference]);
        } finally {
          st.finalize();
        }
      }
      this.db.run('DELETE FROM failures WHERE campaign_id = ? AND job_key = ?', [r.campaignId, r.jobKey]);
      return true;
    });
  }

  async results(campaignId: string): Promise<JobResultRow[]> {
    return this.retry(() =>
      this.db.all('SELECT * FROM results WHERE campaign_id = ? ORDER BY job_key', [campaignId]),
    ).map((r) => toResult(r as Record<string, unknown>));
  }

  async hasResult(campaignId: string, jobKey: string): Promise<boolean> {
    const sql = 'SELECT 1 AS x FROM results WHERE campaign_id = ? AND job_key = ?';
    return !!this.retry(() => this.db.get(sql, [campaignId, jobKey]));
  }

  async doneKeys(campaignId: string): Promise<Set<string>> {
    return new Set(
      this.retry(() => this.db.all('SELECT job_key FROM results WHERE campaign_id = ?', [campaignId])).map((r) =>
        String(r.job_key),
      ),
    );
  }

  async recordFailure(campaignId: string, jobKey: string, error: string, workerId: string): Promise<void> {
    this.tx(() =>
      this.db.run(
        `INSERT INTO failures (campaign_id, job_key, error, attempts, worker_id, updated_at) VALUES (?, ?, ?, 1, ?, ?)
       ON CONFLICT (campaign_id, job_key) DO UPDATE SET error = excluded.error, attempts = failures.attempts + 1,
       worker_id = excluded.worker_id, updated_at = excluded.updated_at`,
        [campaignId, jobKey, error, workerId, new Date().toISOString()],
      ),
    );
  }

  async failures(campaignId: string): Promise<JobFailure[]> {
    return this.retry(() =>
      this.db.all('SELECT * FROM failures WHERE campaign_id = ? ORDER BY job_key', [campaignId]),
    ).map((r) => ({
      jobKey: String(r.job_key),
      error: String(r.error),
      attempts: Number(r.attempts),
      workerId: String(r.worker_id),
      updatedAt: String(r.updated_at),
    }));
  }

  async samples(campaignId: string, q: SampleQuery = {}): Promise<{ total: number; rows: SampleRow[] }> {
    const { where, params } = sampleWhere(campaignId, q, () => '?');
    const total = Number(
      this.retry(() => this.db.get(`SELECT COUNT(*) AS n FROM samples WHERE ${where}`, params))?.n ?? 0,
    );
    const rows = this.retry(() =>
      this.db.all(`SELECT * FROM samples WHERE ${where} ORDER BY model, attack, eps, position LIMIT ? OFFSET ?`, [
        ...params,
        q.limit ?? -1,
        q.offset ?? 0,
      ]),
    );
    return { total, rows: rows.map((r) => toSample(r as Record<string, unknown>)) };
  }

  async sampleImages(campaignId: string, sampleKey: string): Promise<SampleImageRow | null> {
    const r = this.retry(() =>
      this.db.get('SELECT * FROM sample_images WHERE campaign_id = ? AND sample_key = ?', [campaignId, sampleKey]),
    );
    if (!r) return null;
    const b = (v: unknown): Buffer => Buffer.from(v as Uint8Array);
    return { sampleKey, clean: b(r.clean), adversarial: b(r.adversarial), difference: b(r.difference) };
  }

  async close(): Promise<void> {
    if (this.db.isOpen) this.db.close();
  }
}
