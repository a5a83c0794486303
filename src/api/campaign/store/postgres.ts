/**
 * The PostgreSQL driver of the campaign store (store/sql.ts holds the logic), on `pg`, for many machines:
 * the same tables and statements as SQLite (`?` placeholders numbered here). A job's result, samples and
 * images are written in one transaction after `INSERT … ON CONFLICT DO NOTHING` on the result row (a retried
 * or duplicated job writes nothing), so concurrent workers never double-count.
 */
import pg from 'pg';
import { badInput, oneLine } from '../../../errors.js';
import { schemaSql } from './types.js';
import { SqlCampaignStore, type SqlDriver, type SqlRow, type SqlStatement, type SqlValue } from './sql.js';

/** `?` → `$1, $2, …` (the statements hold no `?` inside string literals). */
export function numbered(sql: string): string {
  let i = 0;
  return sql.replace(/\?/g, () => `$${++i}`);
}

class PostgresDriver implements SqlDriver {
  readonly kind = 'postgres' as const;
  readonly insertRows = 200;
  readonly noLimit = null;

  constructor(
    private readonly pool: pg.Pool,
    readonly where: string,
  ) {}

  async all(sql: string, params: SqlValue[] = []): Promise<SqlRow[]> {
    return (await this.pool.query(numbered(sql), params)).rows;
  }

  async run(sql: string, params: SqlValue[] = []): Promise<number> {
    return (await this.pool.query(numbered(sql), params)).rowCount ?? 0;
  }

  async writeIf(first: SqlStatement, then: SqlStatement[]): Promise<boolean> {
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      const changed = ((await c.query(numbered(first.sql), first.params)).rowCount ?? 0) > 0;
      if (changed) for (const s of then) await c.query(numbered(s.sql), s.params);
      await c.query('COMMIT');
      return changed;
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      c.release();
    }
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}

/** Open the PostgreSQL campaign store at `url` (its tables are created on first use). */
export async function openPostgresStore(url: string): Promise<SqlCampaignStore> {
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
  return new SqlCampaignStore(new PostgresDriver(pool, shown));
}
