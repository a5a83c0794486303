/**
 * The campaign store's logic, written once over a thin SQL driver (`SqlDriver`): SQLite (store/sqlite.ts)
 * and PostgreSQL (store/postgres.ts) differ only in how they connect, run a statement, hold a transaction
 * and spell a placeholder. The statements are the same text for both: `?` placeholders (the PostgreSQL driver
 * numbers them `$1, $2, …`), `INSERT … ON CONFLICT DO NOTHING` for insert-if-absent (SQLite ≥ 3.24), and
 * `ON CONFLICT … DO UPDATE … excluded.x` for the failure counter.
 */
import {
  RESULT_COLUMNS,
  SAMPLE_COLUMNS,
  resultValues,
  sampleValues,
  sampleWhere,
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

export type SqlValue = string | number | null | Buffer | Uint8Array;
export type SqlRow = Record<string, unknown>;
export interface SqlStatement {
  sql: string;
  params: SqlValue[];
}

/** What a database must do for the campaign store. */
export interface SqlDriver {
  readonly kind: 'sqlite' | 'postgres';
  /** Where it is (a file path, or the URL without password). */
  readonly where: string;
  /** Rows per multi-row INSERT (bounded by the driver's limit on parameters). */
  readonly insertRows: number;
  /** The LIMIT value that means "no limit" (SQLite -1, PostgreSQL NULL). */
  readonly noLimit: number | null;
  all(sql: string, params?: SqlValue[]): Promise<SqlRow[]>;
  /** Run one statement; the number of rows it changed. */
  run(sql: string, params?: SqlValue[]): Promise<number>;
  /** In one transaction: run `first`; only when it changed a row, run `then`. True when it changed a row. */
  writeIf(first: SqlStatement, then: SqlStatement[]): Promise<boolean>;
  close(): Promise<void>;
}

const marks = (n: number): string => Array.from({ length: n }, () => '?').join(', ');

/** Multi-row INSERT … ON CONFLICT DO NOTHING statements of `rows`, `per` rows each. */
function inserts(table: string, cols: readonly string[], rows: SqlValue[][], per: number): SqlStatement[] {
  const out: SqlStatement[] = [];
  for (let i = 0; i < rows.length; i += per) {
    const part = rows.slice(i, i + per);
    out.push({
      sql:
        `INSERT INTO ${table} (${cols.join(', ')}) VALUES ` +
        `${part.map(() => `(${marks(cols.length)})`).join(', ')} ON CONFLICT DO NOTHING`,
      params: part.flat(),
    });
  }
  return out;
}

const CAMPAIGN_COLUMNS = [
  'id',
  'name',
  'spec_hash',
  'spec',
  'jobs_total',
  'state',
  'created_at',
  'updated_at',
  'seconds',
] as const;
const IMAGE_COLUMNS = ['campaign_id', 'sample_key', 'clean', 'adversarial', 'difference'] as const;

export class SqlCampaignStore implements CampaignStore {
  constructor(private readonly db: SqlDriver) {}

  get kind(): 'sqlite' | 'postgres' {
    return this.db.kind;
  }

  get where(): string {
    return this.db.where;
  }

  async createCampaign(c: CampaignRow): Promise<boolean> {
    const [insert] = inserts(
      'campaigns',
      CAMPAIGN_COLUMNS,
      [[c.id, c.name, c.specHash, JSON.stringify(c.spec), c.jobsTotal, c.state, c.createdAt, c.updatedAt, c.seconds]],
      1,
    );
    return (await this.db.run(insert.sql, insert.params)) > 0;
  }

  async getCampaign(id: string): Promise<CampaignRow | null> {
    const [r] = await this.db.all('SELECT * FROM campaigns WHERE id = ?', [id]);
    return r ? toCampaign(r) : null;
  }

  async listCampaigns(): Promise<CampaignRow[]> {
    return (await this.db.all('SELECT * FROM campaigns ORDER BY created_at, id')).map(toCampaign);
  }

  async setCampaignState(id: string, state: CampaignState, addSeconds = 0): Promise<void> {
    await this.db.run('UPDATE campaigns SET state = ?, seconds = seconds + ?, updated_at = ? WHERE id = ?', [
      state,
      addSeconds,
      new Date().toISOString(),
      id,
    ]);
  }

  async putResult(r: JobResultRow, samples: SampleRow[] = [], images: SampleImageRow[] = []): Promise<boolean> {
    const per = this.db.insertRows;
    const [first] = inserts('results', RESULT_COLUMNS, [resultValues(r)], 1);
    return this.db.writeIf(first, [
      ...inserts(
        'samples',
        SAMPLE_COLUMNS,
        samples.map((s) => sampleValues(r.campaignId, s)),
        per,
      ),
      ...inserts(
        'sample_images',
        IMAGE_COLUMNS,
        images.map((m) => [r.campaignId, m.sampleKey, m.clean, m.adversarial, m.difference]),
        per,
      ),
      { sql: 'DELETE FROM failures WHERE campaign_id = ? AND job_key = ?', params: [r.campaignId, r.jobKey] },
    ]);
  }

  async results(campaignId: string): Promise<JobResultRow[]> {
    return (await this.db.all('SELECT * FROM results WHERE campaign_id = ? ORDER BY job_key', [campaignId])).map(
      toResult,
    );
  }

  async hasResult(campaignId: string, jobKey: string): Promise<boolean> {
    const sql = 'SELECT 1 AS x FROM results WHERE campaign_id = ? AND job_key = ?';
    return (await this.db.all(sql, [campaignId, jobKey])).length > 0;
  }

  async doneKeys(campaignId: string): Promise<Set<string>> {
    const rows = await this.db.all('SELECT job_key FROM results WHERE campaign_id = ?', [campaignId]);
    return new Set(rows.map((r) => String(r.job_key)));
  }

  async recordFailure(campaignId: string, jobKey: string, error: string, workerId: string): Promise<void> {
    await this.db.run(
      'INSERT INTO failures (campaign_id, job_key, error, attempts, worker_id, updated_at) VALUES (?, ?, ?, 1, ?, ?) ' +
        'ON CONFLICT (campaign_id, job_key) DO UPDATE SET error = excluded.error, attempts = failures.attempts + 1, ' +
        'worker_id = excluded.worker_id, updated_at = excluded.updated_at',
      [campaignId, jobKey, error, workerId, new Date().toISOString()],
    );
  }

  async failures(campaignId: string): Promise<JobFailure[]> {
    const rows = await this.db.all('SELECT * FROM failures WHERE campaign_id = ? ORDER BY job_key', [campaignId]);
    return rows.map((r) => ({
      jobKey: String(r.job_key),
      error: String(r.error),
      attempts: Number(r.attempts),
      workerId: String(r.worker_id),
      updatedAt: String(r.updated_at),
    }));
  }

  async samples(campaignId: string, q: SampleQuery = {}): Promise<{ total: number; rows: SampleRow[] }> {
    const { where, params } = sampleWhere(campaignId, q, () => '?');
    const [count] = await this.db.all(`SELECT COUNT(*) AS n FROM samples WHERE ${where}`, params);
    const rows = await this.db.all(
      `SELECT * FROM samples WHERE ${where} ORDER BY model, attack, eps, position LIMIT ? OFFSET ?`,
      [...params, q.limit ?? this.db.noLimit, q.offset ?? 0],
    );
    return { total: Number(count?.n ?? 0), rows: rows.map(toSample) };
  }

  async sampleImages(campaignId: string, sampleKey: string): Promise<SampleImageRow | null> {
    const sql = 'SELECT * FROM sample_images WHERE campaign_id = ? AND sample_key = ?';
    const [r] = await this.db.all(sql, [campaignId, sampleKey]);
    if (!r) return null;
    const b = (v: unknown): Buffer => (Buffer.isBuffer(v) ? v : Buffer.from(v as Uint8Array));
    return { sampleKey, clean: b(r.clean), adversarial: b(r.adversarial), difference: b(r.difference) };
  }

  close(): Promise<void> {
    return this.db.close();
  }
}
