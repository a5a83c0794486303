/**
 * The append-only, hash-chained, periodically signed audit log (record.ts has the chain rule).
 *
 * Group commit: `append` assigns seq and prevHash at once (so the chain order is the call order) and
 * queues the record; one writer drains the queue, writing everything queued so far in one durable
 * transaction, then resolves every waiter. A request's response is sent only after its record's
 * promise resolves, so every 2xx has a durable record. If a write fails the log fails closed: every
 * later append rejects (the gateway then answers 503) rather than fork the chain.
 *
 * Every `signEvery` records, or `signIntervalSeconds` after the last signature while records arrive,
 * an `AuditLogSigned` record is chained in whose `signature` is the gateway key's signature
 * (RSA/ECDSA with SHA-256, node crypto) over the previous record's hash: anyone holding the gateway
 * certificate can check that the chain up to there was produced by the gateway. Its `decision` states the
 * signEvery in force (`sign-every:N`), so a verifier knows the longest unsigned run the gateway allowed.
 *
 * Signatures are not optional (issue 20, finding 5): with a signer, the gateway signs at start-up whatever a crash
 * left unsigned (so a crash/restart cycle leaves at most signEvery unsigned records), every signEvery records, and at
 * shutdown (so a cleanly stopped log's head is signed). After each signature is durable it writes a *checkpoint*
 * file outside the database (checkpoint.ts): the signed record's seq and hash, signed again by the gateway key.
 * Truncating the tail, or re-computing the chain after deleting records and dropping signature records, no longer
 * matches that checkpoint; verify.ts has the rules.
 */
import { createSign, type KeyObject } from 'node:crypto';
import { MedshieldError } from '../../errors.js';
import { GENESIS_HASH, OUTCOME, chainRecord, completeFields, type AuditFields, type AuditRecord } from './record.js';
import type { AuditStore } from './store.js';
import { readCheckpoint, writeCheckpoint } from './checkpoint.js';

export interface LogSigner {
  key: KeyObject;
  subject: string;
}
export interface AuditLogOptions {
  signEvery: number;
  signIntervalSeconds: number;
  signer?: LogSigner | null;
  /** Checkpoint file written after every durable signature (null: none). */
  checkpoint?: string | null;
}

/** `decision` of an AuditLogSigned record: the signEvery in force when it was made. */
export const SIGN_EVERY_PREFIX = 'sign-every:';

interface Pending {
  rec: AuditRecord;
  resolve: (r: AuditRecord) => void;
  reject: (e: Error) => void;
}

export function signHead(signer: LogSigner, headHash: string): string {
  return createSign('SHA256').update(headHash).sign(signer.key).toString('base64');
}

function safeCheckpointSeq(file: string): number | null {
  try {
    return readCheckpoint(file)?.seq ?? null;
  } catch {
    return null;
  }
}

export class AuditLog {
  private seq = 0;
  private last = GENESIS_HASH;
  private queue: Pending[] = [];
  private writing: Promise<void> | null = null;
  private failed: Error | null = null;
  private sinceSign = 0;
  private lastSignAt = Date.now();
  /** Seconds spent in durable writes (for /metrics), and batches written. */
  writeSeconds = 0;
  batches = 0;

  private constructor(
    readonly store: AuditStore,
    private opts: AuditLogOptions,
  ) {}

  static async open(store: AuditStore, opts: AuditLogOptions): Promise<AuditLog> {
    const log = new AuditLog(store, opts);
    const h = await store.head();
    if (h) {
      log.seq = h.seq;
      log.last = h.hash;
    }
    if (h && opts.signer) {
      const [head] = await store.page(h.seq - 1, 1);
      if (head?.event !== 'AuditLogSigned') {
        // A crash left the head unsigned: sign what it left before anything else is appended.
        log.sinceSign = 1;
        log.enqueueSignature('start-up, covering records the previous run left unsigned');
        await log.flush();
        if (log.failed) throw log.failed;
      } else if (opts.checkpoint && (safeCheckpointSeq(opts.checkpoint) ?? 0) < head.seq) {
        writeCheckpoint(opts.checkpoint, opts.signer, head); // a crash between the commit and the checkpoint write
      }
    }
    return log;
  }

  get headSeq(): number {
    return this.seq;
  }

  /** Append a record; resolves once it is durable. */
  append(f: Partial<AuditFields> & Pick<AuditFields, 'event' | 'outcome'>): Promise<AuditRecord> {
    if (this.failed) return Promise.reject(new MedshieldError('IO', `audit log unavailable: ${this.failed.message}`));
    const p = this.enqueue(completeFields(f));
    this.sinceSign++;
    if (
      this.opts.signer &&
      (this.sinceSign >= this.opts.signEvery || Date.now() - this.lastSignAt >= this.opts.signIntervalSeconds * 1000)
    )
      this.enqueueSignature();
    return p;
  }

  private enqueue(fields: AuditFields): Promise<AuditRecord> {
    const rec = chainRecord(fields, ++this.seq, this.last);
    this.last = rec.hash;
    const p = new Promise<AuditRecord>((resolve, reject) => this.queue.push({ rec, resolve, reject }));
    this.kick();
    return p;
  }

  private enqueueSignature(why?: string): void {
    const s = this.opts.signer!;
    this.sinceSign = 0;
    this.lastSignAt = Date.now();
    this.enqueue(
      completeFields({
        event: 'AuditLogSigned',
        action: 'C',
        outcome: OUTCOME.success,
        signer: s.subject,
        signature: signHead(s, this.last),
        decision: `${SIGN_EVERY_PREFIX}${this.opts.signEvery}`,
        reason: `signs record ${this.seq}${why ? ` (${why})` : ''}`,
      }),
    ).catch(() => undefined);
  }

  private kick(): void {
    if (this.writing) return;
    this.writing = (async () => {
      // Let every request that is ready in this turn of the event loop join the batch.
      await new Promise((r) => setImmediate(r));
      while (this.queue.length) {
        const batch = this.queue.splice(0, this.queue.length);
        const t0 = process.hrtime.bigint();
        try {
          if (this.failed) throw this.failed;
          await this.store.append(batch.map((b) => b.rec));
          const signed = batch
            .map((b) => b.rec)
            .filter((r) => r.event === 'AuditLogSigned')
            .pop();
          if (signed && this.opts.checkpoint && this.opts.signer)
            writeCheckpoint(this.opts.checkpoint, this.opts.signer, signed);
          this.writeSeconds += Number(process.hrtime.bigint() - t0) / 1e9;
          this.batches++;
          for (const b of batch) b.resolve(b.rec);
        } catch (e) {
          this.failed ??= e instanceof Error ? e : new Error(String(e));
          const err = new MedshieldError('IO', `audit write failed: ${this.failed.message}`);
          for (const b of batch) b.reject(err);
        }
      }
      this.writing = null;
    })();
  }

  /** Wait for every queued record to be durable. */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  /** Sign the head (if a signer is configured and anything is unsigned), flush, close the store. */
  async close(): Promise<void> {
    if (this.opts.signer && this.sinceSign > 0 && !this.failed) this.enqueueSignature('shutdown');
    await this.flush();
    await this.store.close();
  }
}
