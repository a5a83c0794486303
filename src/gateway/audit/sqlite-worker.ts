/**
 * The gateway's SQLite audit store runs in a worker thread: node-sqlite3-wasm's fsync is synchronous, and
 * on the main thread every durable commit (≈4 ms) would stall the whole server. The worker owns the
 * database (SqliteAuditStore); the main thread sends batches and gets an answer after COMMIT, so the
 * "durable before the response" rule holds while the event loop keeps serving.
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { MedshieldError } from '../../errors.js';
import type { AuditRecord } from './record.js';
import type { AuditStore, BlockRow } from './store.js';
import { SqliteAuditStore } from './sqlite.js';

type Op = 'head' | 'append' | 'page' | 'since' | 'blocks' | 'close';
interface Msg {
  id: number;
  op: Op;
  args: unknown[];
}
interface Reply {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
  code?: string;
}

export class SqliteWorkerStore implements AuditStore {
  readonly kind = 'sqlite' as const;
  private next = 1;
  private waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private dead: Error | null = null;

  private constructor(private worker: Worker) {
    worker.on('message', (r: Reply) => {
      const w = this.waiting.get(r.id);
      if (!w) return;
      this.waiting.delete(r.id);
      if (r.ok) w.resolve(r.result);
      else w.reject(new MedshieldError((r.code as never) ?? 'IO', r.error ?? 'audit store error'));
    });
    worker.on('error', (e) => this.fail(e));
    worker.on('exit', (code) => this.fail(new Error(`audit store worker exited (${code})`)));
  }

  private fail(e: Error): void {
    this.dead ??= e;
    for (const w of this.waiting.values()) w.reject(e);
    this.waiting.clear();
  }

  static async open(file: string): Promise<SqliteWorkerStore> {
    const worker = new Worker(new URL(import.meta.url), { workerData: { medshieldAuditDb: file } });
    const s = new SqliteWorkerStore(worker);
    await s.call('head', []);
    return s;
  }

  private call<T>(op: Op, args: unknown[]): Promise<T> {
    if (this.dead) return Promise.reject(new MedshieldError('IO', this.dead.message));
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ id, op, args } satisfies Msg);
    });
  }

  head(): Promise<{ seq: number; hash: string } | null> {
    return this.call('head', []);
  }
  append(records: AuditRecord[]): Promise<void> {
    return this.call('append', [records]);
  }
  page(afterSeq: number, limit: number): Promise<AuditRecord[]> {
    return this.call('page', [afterSeq, limit]);
  }
  since(time: string, limit: number): Promise<AuditRecord[]> {
    return this.call('since', [time, limit]);
  }
  blocks(time: string): Promise<BlockRow[]> {
    return this.call('blocks', [time]);
  }
  async close(): Promise<void> {
    if (this.dead) return;
    await this.call('close', []);
    await this.worker.terminate();
  }
}

if (!isMainThread && workerData?.medshieldAuditDb) {
  let store: SqliteAuditStore | null = null;
  let openError: Error | null = null;
  try {
    store = SqliteAuditStore.open(workerData.medshieldAuditDb as string);
  } catch (e) {
    openError = e as Error;
  }
  parentPort!.on('message', async (m: Msg) => {
    try {
      if (!store) throw openError ?? new Error('audit store not open');
      const s = store as unknown as Record<Op, (...a: unknown[]) => Promise<unknown>>;
      const result = await s[m.op](...m.args);
      parentPort!.postMessage({ id: m.id, ok: true, result } satisfies Reply);
    } catch (e) {
      parentPort!.postMessage({
        id: m.id,
        ok: false,
        error: (e as Error).message,
        code: (e as MedshieldError).code,
      } satisfies Reply);
    }
  });
}
