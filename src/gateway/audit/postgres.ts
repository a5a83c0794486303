/**
 * PostgreSQL audit store (`pg`). One table, the same columns as SQLite; a trigger refuses UPDATE and
 * DELETE; appends run in one transaction and return after COMMIT (synchronous_commit on = durable).
 * One gateway writes one audit database: the bigint `seq` primary key keeps a second writer from forking
 * the chain (its duplicate seq fails the transaction and that gateway fails closed).
 */
import pg from 'pg';
import { badInput } from '../../errors.js';
import { RECORD_COLUMNS, type AuditRecord } from './record.js';
import { BLOCKS_SQL, type AuditStore, type BlockRow } from './store.js';

const COLS = RECORD_COLUMNS.map((c) => `"${c}"`).join(', ');
const SCHEMA =
  `
CREATE TABLE IF NOT EXISTS audit (
  "seq" BIGINT PRIMARY KEY, "prevHash" TEXT NOT NULL, "hash" TEXT NOT NULL, "event" TEXT NOT NULL, "action" TEXT NOT ` +
  `NULL,
  "outcome" INTEGER NOT NULL, "time" TEXT NOT NULL, "requestId" TEXT, "userId" TEXT, "role" TEXT, "sourceAddress" TEXT,
  "route" TEXT, "status" INTEGER, "sopInstanceUid" TEXT, "imageSha256" TEXT, "signer" TEXT, "modelId" TEXT,
  "modelVersion" TEXT, "decision" TEXT, "flags" TEXT NOT NULL, "reason" TEXT, "signature" TEXT);
CREATE INDEX IF NOT EXISTS audit_time ON audit("time");
CREATE INDEX IF NOT EXISTS audit_route ON audit("route");
CREATE OR REPLACE FUNCTION medshield_audit_append_only() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'audit log is append-only'; END; $$ LANGUAGE plpgsql;
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'audit_append_only') THEN
    CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit FOR EACH ROW EXECUTE FUNCTION ` +
  `medshield_audit_append_only();
  END IF;
END $$;`;

function toRecord(r: Record<string, unknown>): AuditRecord {
  return {
    ...r,
    seq: Number(r.seq),
    outcome: Number(r.outcome),
    status: r.status === null ? null : Number(r.status),
  } as AuditRecord;
}

export class PostgresAuditStore implements AuditStore {
  readonly kind = 'postgres' as const;
  private constructor(private pool: pg.Pool) {}

  static async open(url: string): Promise<PostgresAuditStore> {
    const pool = new pg.Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 5000 });
    pool.on('error', () => {
      /* idle client errors surface on the next query */
    });
    try {
      const c = await pool.connect(); // one session: the advisory lock is per session
      try {
        await c.query('SELECT pg_advisory_lock(4242)');
        try {
          await c.query(SCHEMA);
        } finally {
          await c.query('SELECT pg_advisory_unlock(4242)');
        }
      } finally {
        c.release();
      }
    } catch (e) {
      await pool.end().catch(() => undefined);
      throw badInput(`cannot use PostgreSQL audit database: ${(e as Error).message.split('\n')[0]}`);
    }
    return new PostgresAuditStore(pool);
  }

  async head(): Promise<{ seq: number; hash: string } | null> {
    const r = await this.pool.query('SELECT "seq", "hash" FROM audit ORDER BY "seq" DESC LIMIT 1');
    return r.rows.length ? { seq: Number(r.rows[0].seq), hash: r.rows[0].hash } : null;
  }

  async append(records: AuditRecord[]): Promise<void> {
    if (!records.length) return;
    const n = RECORD_COLUMNS.length;
    const values = records
      .map((_, i) => '(' + RECORD_COLUMNS.map((__, j) => `$${i * n + j + 1}`).join(', ') + ')')
      .join(', ');
    const params = records.flatMap((r) => RECORD_COLUMNS.map((c) => r[c]));
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`INSERT INTO audit (${COLS}) VALUES ${values}`, params);
      await client.query('COMMIT');
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      client.release();
    }
  }

  async page(afterSeq: number, limit: number): Promise<AuditRecord[]> {
    return (
      await this.pool.query(`SELECT ${COLS} FROM audit WHERE "seq" > $1 ORDER BY "seq" LIMIT $2`, [afterSeq, limit])
    ).rows.map(toRecord);
  }

  async since(time: string, limit: number): Promise<AuditRecord[]> {
    return (
      await this.pool.query(`SELECT ${COLS} FROM audit WHERE "time" >= $1 ORDER BY "seq" LIMIT $2`, [time, limit])
    ).rows.map(toRecord);
  }

  async blocks(time: string): Promise<BlockRow[]> {
    return (await this.pool.query(BLOCKS_SQL, [time])).rows as BlockRow[];
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
