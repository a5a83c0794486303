/**
 * Check a whole audit log: seqs are 1,2,3,… without gaps, every record's hash is the SHA-256 of its
 * canonical encoding, every prevHash is the previous record's hash, and every AuditLogSigned record's
 * signature over the previous hash verifies with the gateway certificate. Reports the FIRST broken
 * record (a tampered record breaks its own hash, so the report names exactly that record).
 */
import { createVerify, type KeyObject } from 'node:crypto';
import { GENESIS_HASH, recordHash } from './record.js';
import type { AuditStore } from './store.js';

export interface ChainReport {
  valid: boolean;
  records: number;
  signatures: number;
  signaturesChecked: boolean;
  headSeq: number;
  headHash: string;
  /** The first record that fails, and why. */
  firstBroken: { seq: number; reason: string } | null;
}

export async function verifyChain(store: AuditStore, publicKey: KeyObject | null, pageSize = 5000): Promise<ChainReport> {
  let prev = GENESIS_HASH;
  let expectSeq = 1;
  let signatures = 0;
  const report = (firstBroken: ChainReport['firstBroken']): ChainReport => ({ valid: !firstBroken, records: expectSeq - 1, signatures, signaturesChecked: !!publicKey, headSeq: expectSeq - 1, headHash: prev, firstBroken });
  for (;;) {
    const page = await store.page(expectSeq - 1, pageSize);
    if (!page.length) break;
    for (const r of page) {
      if (r.seq !== expectSeq) return report({ seq: expectSeq, reason: `record ${expectSeq} is missing (next stored record is ${r.seq})` });
      if (r.prevHash !== prev) return report({ seq: r.seq, reason: `record ${r.seq}: prevHash does not match record ${r.seq - 1}'s hash` });
      const h = recordHash(r);
      if (h !== r.hash) return report({ seq: r.seq, reason: `record ${r.seq}: content does not match its hash (edited)` });
      if (r.event === 'AuditLogSigned') {
        signatures++;
        if (publicKey) {
          let ok = false;
          try { ok = !!r.signature && createVerify('SHA256').update(prev).verify(publicKey, Buffer.from(r.signature, 'base64')); } catch { ok = false; }
          if (!ok) return report({ seq: r.seq, reason: `record ${r.seq}: gateway signature over record ${r.seq - 1} does not verify` });
        }
      }
      prev = r.hash;
      expectSeq++;
    }
  }
  return report(null);
}
