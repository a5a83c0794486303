/**
 * The SQLite driver of the campaign store (store/sql.ts holds the logic) on node-sqlite3-wasm (the driver
 * the gateway's audit log uses; see src/gateway/audit/sqlite.ts for why). Unlike the audit log, a campaign
 * database is shared: a run writes while `campaign status` or the dashboard reads, so it keeps SQLite's
 * default rollback journal and normal locking (the wasm VFS has no shared-memory index for WAL), and every
 * statement retries while another process holds the lock (SQLITE_BUSY, up to ~40 s). The VFS locks with a
 * `<db>.lock` directory; one left behind by a killed process (older than 30 s: transactions here are
 * short) is removed. Statements run synchronously, so a transaction never interleaves with another call.
 */
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { Database as Db } from 'node-sqlite3-wasm';
import { badInput, oneLine } from '../../../errors.js';
import { schemaSql } from './types.js';
import { SqlCampaignStore, type SqlDriver, type SqlRow, type SqlStatement, type SqlValue } from './sql.js';

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

type Params = Parameters<Db['run']>[1];

class SqliteDriver implements SqlDriver {
  readonly kind = 'sqlite' as const;
  // 20 columns × 40 rows stays under SQLite's historical limit of 999 parameters
  readonly insertRows = 40;
  readonly noLimit = -1;

  constructor(
    private readonly db: Db,
    readonly where: string,
  ) {}

  /** Run `fn`, retrying while another process holds the lock. */
  retry<T>(fn: () => T): T {
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

  async all(sql: string, params: SqlValue[] = []): Promise<SqlRow[]> {
    return this.retry(() => this.db.all(sql, params as Params)) as SqlRow[];
  }

  async run(sql: string, params: SqlValue[] = []): Promise<number> {
    return this.retry(() => this.db.run(sql, params as Params).changes);
  }

  /** BEGIN IMMEDIATE … COMMIT, retried as a whole while the database is busy. */
  async writeIf(first: SqlStatement, then: SqlStatement[]): Promise<boolean> {
    return this.retry(() => {
      this.db.exec('BEGIN IMMEDIATE');
      try {
        const changed = this.db.run(first.sql, first.params as Params).changes > 0;
        if (changed) for (const s of then) this.db.run(s.sql, s.params as Params);
        this.db.exec('COMMIT');
        return changed;
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

  async close(): Promise<void> {
    if (this.db.isOpen) this.db.close();
  }
}

/** Open (and create) the SQLite campaign store in `file`. */
export function openSqliteStore(file: string): SqlCampaignStore {
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
  const driver = new SqliteDriver(db, file);
  try {
    driver.retry(() => db.exec(schemaSql('BLOB', 'REAL')));
  } catch (e) {
    db.close();
    throw badInput(`'${file}' is not a usable SQLite campaign store (${oneLine(e)})`);
  }
  return new SqlCampaignStore(driver);
}
