/**
 * Where audit records live. Two stores share this interface: SQLite (default; node-sqlite3-wasm, a
 * WebAssembly build of SQLite whose VFS writes the real file with fs.writeSync + fs.fsyncSync, so no
 * native binary is downloaded or compiled) and PostgreSQL (`pg`). `append` resolves only after the batch
 * is durable (SQLite: synchronous=FULL commit, fsync'd; PostgreSQL: synchronous_commit on).
 * Both stores refuse UPDATE and DELETE with triggers, so editing a record needs deliberate DDL first;
 * the hash chain catches it anyway.
 */
import type { AuditRecord } from './record.js';

export interface BlockRow {
  userId: string | null;
  sourceAddress: string | null;
  time: string;
}

/** The SQL both stores run for `blocks` ($1 = time). */
export const BLOCKS_SQL =
  `SELECT "userId", "sourceAddress", "time" FROM audit WHERE "route" = ` +
  `'query-detector' AND "decision" = 'block' AND "time" >= $1 ORDER BY "seq"`;

export interface AuditStore {
  readonly kind: 'sqlite' | 'postgres';
  /** The last record's seq and hash, or null for an empty log. */
  head(): Promise<{ seq: number; hash: string } | null>;
  /** Durably append records (consecutive seqs) in one transaction. */
  append(records: AuditRecord[]): Promise<void>;
  /** Records with seq > afterSeq, oldest first, at most `limit`. */
  page(afterSeq: number, limit: number): Promise<AuditRecord[]>;
  /** Records at or after an ISO time, oldest first, at most `limit`. */
  since(time: string, limit: number): Promise<AuditRecord[]>;
  /** Query-attack blocks (route 'query-detector', decision 'block') recorded at or after an ISO time, oldest first. */
  blocks(time: string): Promise<BlockRow[]>;
  close(): Promise<void>;
}

/** Open the store named by an audit URL: `sqlite:PATH` or `postgres://…` / `postgresql://…`. */
export async function openAuditStore(url: string): Promise<AuditStore> {
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    const { PostgresAuditStore } = await import('./postgres.js');
    return PostgresAuditStore.open(url);
  }
  const file = url.startsWith('sqlite:') ? url.slice(7) : url;
  const { SqliteWorkerStore } = await import('./sqlite-worker.js');
  return SqliteWorkerStore.open(file);
}
