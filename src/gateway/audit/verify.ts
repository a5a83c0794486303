/**
 * Check a whole audit log: seqs are 1,2,3,… without gaps, every record's hash is the SHA-256 of its
 * canonical encoding, every prevHash is the previous record's hash, and every AuditLogSigned record's
 * signature over the previous hash verifies with the gateway certificate. Reports the FIRST broken
 * record (a tampered record breaks its own hash, so the report names exactly that record).
 *
 * With the gateway's certificate, signatures are REQUIRED (issue 20, finding 5), so a log rebuilt without them fails:
 * - no run of unsigned records is longer than the signEvery in force (the one the closing AuditLogSigned record
 *   states, else `opts.signEvery`): the first record past the limit is named;
 * - the head is an AuditLogSigned record (`live`: a running gateway's tail may hold up to signEvery unsigned records):
 *   a record appended after the last signature — forged, or left by a crash with no restart — is named;
 * - the checkpoint file (checkpoint.ts), when given, must exist, carry a valid gateway signature, and name a record
 *   of this log with that hash: a truncated tail, or a chain re-computed after deleting records, is named at the
 *   checkpoint's record.
 */
import { createVerify, type KeyObject } from 'node:crypto';
import { GENESIS_HASH, recordHash } from './record.js';
import type { AuditStore } from './store.js';
import { SIGN_EVERY_PREFIX } from './log.js';
import { checkpointSignatureValid, readCheckpoint, type Checkpoint } from './checkpoint.js';

export interface ChainReport {
  valid: boolean;
  records: number;
  signatures: number;
  signaturesChecked: boolean;
  headSeq: number;
  headHash: string;
  /** The checkpoint the log was compared with (its seq), or null when none was checked. */
  checkpointSeq: number | null;
  /** The first record that fails, and why. */
  firstBroken: { seq: number; reason: string } | null;
}

export interface VerifyOptions {
  /** The longest unsigned run allowed where no signature record states one (the config's audit.signEvery). */
  signEvery?: number | null;
  /** Checkpoint file to compare against (null/undefined: not checked). */
  checkpoint?: string | null;
  /** The log belongs to a running gateway: its newest records may still wait for their signature. */
  live?: boolean;
  pageSize?: number;
}

function statedSignEvery(decision: string | null): number | null {
  if (!decision?.startsWith(SIGN_EVERY_PREFIX)) return null;
  const n = Number(decision.slice(SIGN_EVERY_PREFIX.length));
  return Number.isSafeInteger(n) && n >= 1 ? n : null;
}

export async function verifyChain(
  store: AuditStore,
  publicKey: KeyObject | null,
  opts: VerifyOptions = {},
): Promise<ChainReport> {
  const pageSize = opts.pageSize ?? 5000;
  let prev = GENESIS_HASH;
  let expectSeq = 1;
  let signatures = 0;
  let cp: Checkpoint | null = null;
  let cpChecked = false;
  const report = (firstBroken: ChainReport['firstBroken']): ChainReport => ({
    valid: !firstBroken,
    records: expectSeq - 1,
    signatures,
    signaturesChecked: !!publicKey,
    headSeq: expectSeq - 1,
    headHash: prev,
    checkpointSeq: cpChecked && cp ? cp.seq : null,
    firstBroken,
  });
  if (publicKey && opts.checkpoint) {
    cpChecked = true;
    try {
      cp = readCheckpoint(opts.checkpoint);
    } catch (e) {
      return report({ seq: 1, reason: `${(e as Error).message}` });
    }
    if (cp && !checkpointSignatureValid(cp, publicKey))
      return report({ seq: cp.seq, reason: `checkpoint '${opts.checkpoint}': gateway signature does not verify` });
  }
  // The current run of unsigned records: its first seq (0 = none open).
  let runStart = 0;
  let maxStated = 0;
  const runLimit = (n: number | null) => n ?? opts.signEvery ?? null;
  for (;;) {
    const page = await store.page(expectSeq - 1, pageSize);
    if (!page.length) break;
    for (const r of page) {
      if (r.seq !== expectSeq)
        return report({ seq: expectSeq, reason: `record ${expectSeq} is missing (next stored record is ${r.seq})` });
      if (r.prevHash !== prev)
        return report({ seq: r.seq, reason: `record ${r.seq}: prevHash does not match record ${r.seq - 1}'s hash` });
      const h = recordHash(r);
      if (h !== r.hash)
        return report({ seq: r.seq, reason: `record ${r.seq}: content does not match its hash (edited)` });
      if (r.event === 'AuditLogSigned') {
        signatures++;
        if (publicKey) {
          let ok = false;
          try {
            ok =
              !!r.signature &&
              createVerify('SHA256').update(prev).verify(publicKey, Buffer.from(r.signature, 'base64'));
          } catch {
            ok = false;
          }
          if (!ok)
            return report({
              seq: r.seq,
              reason: `record ${r.seq}: gateway signature over record ${r.seq - 1} does not verify`,
            });
          const stated = statedSignEvery(r.decision);
          if (stated) maxStated = Math.max(maxStated, stated);
          const limit = runLimit(stated);
          if (runStart && limit !== null && r.seq - runStart > limit) {
            return report({
              seq: runStart + limit,
              reason:
                `record ${runStart + limit}: more than ${limit} records (signEvery) in a row without ` +
                `a gateway signature (records ${runStart}–${r.seq - 1}; signature records dropped?)`,
            });
          }
        }
        runStart = 0;
      } else if (!runStart) runStart = r.seq;
      if (publicKey && cp && r.seq === cp.seq && (r.hash !== cp.hash || r.event !== 'AuditLogSigned')) {
        return report({
          seq: r.seq,
          reason: `record ${r.seq} is not the signed record the checkpoint names (log re-written or records deleted)`,
        });
      }
      // A run already longer than any signEvery this log or the config allows fails at once, at its first record past
      // the limit.
      const eager = Math.max(opts.signEvery ?? 0, maxStated);
      if (publicKey && runStart && eager > 0 && r.seq - runStart + 1 > eager) {
        return report({
          seq: r.seq,
          reason:
            `record ${r.seq}: more than ${eager} records (signEvery) in a row without ` +
            `a gateway signature (from record ${runStart}; signature records dropped?)`,
        });
      }
      prev = r.hash;
      expectSeq++;
    }
  }
  // End of the log: every remaining failure, the lowest record first.
  const head = expectSeq - 1;
  const fails: Array<{ seq: number; reason: string }> = [];
  if (publicKey && cp && cp.seq > head) {
    fails.push({
      seq: head + 1,
      reason:
        `record ${head + 1} is missing: the checkpoint names signed record ` +
        `${cp.seq} but the log ends at record ${head} (tail truncated)`,
    });
  }
  if (publicKey && cpChecked && !cp && signatures > 0) {
    fails.push({
      seq: head,
      reason: `checkpoint '${opts.checkpoint}' is missing (the gateway writes it after every signature; deleted?)`,
    });
  }
  if (publicKey && runStart) {
    const limit = runLimit(null);
    if (!opts.live)
      fails.push({
        seq: runStart,
        reason:
          `record ${runStart}: records ${runStart}–${head} come after the last gateway signature (the head ` +
          `must be signed: forged or appended records, or a gateway that crashed and was not restarted)`,
      });
    else if (limit !== null && head - runStart + 1 > limit)
      fails.push({
        seq: runStart + limit,
        reason:
          `record ${runStart + limit}: more than ${limit} records ` +
          `(signEvery) in a row without a gateway signature`,
      });
  }
  if (fails.length) return report(fails.sort((x, y) => x.seq - y.seq)[0]);
  return report(null);
}
