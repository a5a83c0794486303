/**
 * PostgreSQL campaign store (`pg`), for many machines: the same tables as SQLite; a job's result, samples
 * and images are written in one transaction after `INSERT … ON CONFLICT DO NOTHING` on the result row
 * (a retried or duplicated job writes nothing), so concurrent workers never double-count.
 */
import pg from 'pg';
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

const values = (n: number, from = 1): string => Array.from({ length: n }, (_, i) => `$${from + i}`).join(', ');

export class PostgresCampaignStore implements CampaignStore {
  readonly kind = 'postgres' as const;
  private constructor(
    private pool: pg.Pool,
    readonly where: string,
  ) {}

  static async open(url: string): Promise<PostgresCampaignStore> {
    const pool = new pg.Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 10_000 });
    pool.on('error', () => {
      /* idle client errors surface on the next query */
    });
    let shown = url;
    try {
      const u = new URL(url);
      if (u.password) u.password = '***';
      shown = u.toString();
    } catch {
      /* keep */
    }
    try {
      const c = await pool.connect();
      try {
        await c.query('SELECT pg_advisory_lock(4243)'); // one schema creation at a time (CREATE IF NOT EXISTS races)
        try {
          await c.query(schemaSql('BYTEA', 'DOUBLE PRECISION'));
        } finally {
          await c.query('SELECT pg_advisory_unlock(4243)');
        }
      } finally {
        c.release();
      }
    } catch (e) {
      await pool.end().catch(() => undefined);
      throw badInput(`cannot use PostgreSQL campaign store ${shown}: ${oneLine(e)}`);
    }
    return new PostgresCampaignStore(pool, shown);
  }

  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      const v = await fn(c);
      await c.query('COMMIT');
      return v;
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      c.release();
    }
  }

  async createCampaign(c: CampaignRow): Promise<boolean> {
    const r = await this.pool.query(
      `INSERT INTO campaigns (id, name, spec_hash, spec, jobs_total, state, created_at, updated_at, seconds) VALUES (${values(9)}) ON CONFLICT (id) DO NOTHING`,
      [c.id, c.name, c.specHash, JSON.stringify(c.spec), c.jobsTotal, c.state, c.createdAt, c.updatedAt, c.seconds],
    );
    return (r.rowCount ?? 0) > 0;
  }

  async getCampaign(id: string): Promise<CampaignRow | null> {
    const r = await this.pool.query('SELECT * FROM campaigns WHERE id = $1', [id]);
    return r.rows.length ? toCampaign(r.rows[0]) : null;
  }

  async listCampaigns(): Promise<CampaignRow[]> {
    return (await this.pool.query('SELECT * FROM campaigns ORDER BY created_at, id')).rows.map(toCampaign);
  }

  async setCampaignState(id: string, state: CampaignState, addSeconds = 0): Promise<void> {
    await this.pool.query('UPDATE campaigns SET state = $1, seconds = seconds + $2, updated_at = $3 WHERE id = $4', [
      state,
      addSeconds,
      new Date().toISOString(),
      id,
    ]);
  }

  async putResult(r: JobResultRow, samples: SampleRow[] = [], images: SampleImageRow[] = []): Promise<boolean> {
    return this.tx(async (c) => {
      const ins = await c.query(
        `INSERT INTO results (${RESULT_COLUMNS.join(', ')}) VALUES (${values(RESULT_COLUMNS.length)}) ON CONFLICT DO NOTHING`,
        resultValues(r),
      );
      if (!ins.rowCount) return false;
      const n = SAMPLE_COLUMNS.length;
      for (let s = 0; s < samples.length; s += 200) {
        const part = samples.slice(s, s + 200);
        await c.query(
          `INSERT INTO samples (${SAMPLE_COLUMNS.join(', ')}) VALUES ${part.map((_, i) => `(${values(n, i * n + 1)})`).join(', ')} ON CONFLICT DO NOTHING`,
          part.flatMap((x) => sampleValues(r.campaignId, x)),
        );
      }
      for (let s = 0; s < images.length; s += 200) {
        const part = images.slice(s, s + 200);
        await c.query(
          `INSERT INTO sample_images (campaign_id, sample_key, clean, adversarial, difference) VALUES ${part.map((_, i) => `(${values(5, i * 5 + 1)})`).join(', ')} ON CONFLICT DO NOTHING`,
          part.flatMap((m) => [r.campaignId, m.sampleKey, m.clean, m.adversarial, m.difference]),
        );
      }
      await c.query('DELETE FROM failures WHERE campaign_id = $1 AND job_key = $2', [r.campaignId, r.jobKey]);
      return true;
    });
  }

  async results(campaignId: string): Promise<JobResultRow[]> {
    return (
      await this.pool.query('SELECT * FROM results WHERE campaign_id = $1 ORDER BY job_key', [campaignId])
    ).rows.map(toResult);
  }

  async hasResult(campaignId: string, jobKey: string): Promise<boolean> {
    const r = await this.pool.query('SELECT 1 FROM results WHERE campaign_id = $1 AND job_key = $2', [
      campaignId,
      jobKey,
    ]);
    return r.rows.length > 0;
  }

  async doneKeys(campaignId: string): Promise<Set<string>> {
    return new Set(
      (await this.pool.query('SELECT job_key FROM results WHERE campaign_id = $1', [campaignId])).rows.map((r) =>
        String(r.job_key),
      ),
    );
  }

  async recordFailure(campaignId: string, jobKey: string, error: string, workerId: string): Promise<void> {
    await this.pool.query(
      `INSERT INTO failures (campaign_id, job_key, error, attempts, worker_id, updated_at) VALUES ($1, $2, $3, 1, $4, $5)
       ON CONFLICT (campaign_id, job_key) DO UPDATE SET error = EXCLUDED.error, attempts = failures.attempts + 1,
       worker_id = EXCLUDED.worker_id, updated_at = EXCLUDED.updated_at`,
      [campaignId, jobKey, error, workerId, new Date().toISOString()],
    );
  }

  async failures(campaignId: string): Promise<JobFailure[]> {
    return (
      await this.pool.query('SELECT * FROM failures WHERE campaign_id = $1 ORDER BY job_key', [campaignId])
    ).rows.map((r) => ({
      jobKey: String(r.job_key),
      error: String(r.error),
      attempts: Number(r.attempts),
      workerId: String(r.worker_id),
      updatedAt: String(r.updated_at),
    }));
  }

  async samples(campaignId: string, q: SampleQuery = {}): Promise<{ total: number; rows: SampleRow[] }> {
    const { where, params } = sampleWhere(campaignId, q, (i) => `$${i}`);
    const total = Number(
      (await this.pool.query(`SELECT COUNT(*) AS n FROM samples WHERE ${where}`, params)).rows[0]?.n ?? 0,
    );
    const k = params.length;
    const rows = (
      await this.pool.query(
        `SELECT * FROM samples WHERE ${where} ORDER BY model, attack, eps, position LIMIT $${k + 1} OFFSET $${k + 2}`,
        [...params, q.limit ?? null, q.offset ?? 0],
      )
    ).rows;
    return { total, rows: rows.map(toSample) };
  }

  async sampleImages(campaignId: string, sampleKey: string): Promise<SampleImageRow | null> {
    const r = (
      await this.pool.query('SELECT * FROM sample_images WHERE campaign_id = $1 AND sample_key = $2', [
        campaignId,
        sampleKey,
      ])
    ).rows[0];
    return r ? { sampleKey, clean: r.clean, adversarial: r.adversarial, difference: r.difference } : null;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
