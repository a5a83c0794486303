/**
 * The audit checkpoint: a small file kept OUTSIDE the audit database that names the newest durable
 * AuditLogSigned record — its seq and hash — signed by the gateway key. A hash chain alone cannot show that
 * records were cut off its end, nor that it was re-computed after deletions with the signature records dropped
 * (Schneier & Kelsey, "Secure audit logs to support computer forensics", 1999: the verifier needs a trusted
 * reference to the log's last authenticated state). `audit verify` compares the log against this file: the named
 * record must exist and carry that hash. An attacker who can write the database but not forge the gateway's
 * signature can then no longer truncate or rebuild the log unnoticed; one who can also put back an older genuine
 * checkpoint can roll back to it (ship the checkpoint or `GET /v1/audit` to a separate system to close that).
 *
 * Format (JSON): {format, seq, hash, time, signer, signature}; signature = gateway key over
 * `medshield-audit-checkpoint/1:<seq>:<hash>` (SHA-256, RSA or ECDSA as the key is). Written to a temporary file,
 * fsync'd and renamed, so a crash leaves either the old or the new checkpoint.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { createSign, createVerify, type KeyObject } from 'node:crypto';
import path from 'node:path';
import type { AuditRecord } from './record.js';

export const CHECKPOINT_FORMAT = 'medshield-audit-checkpoint/1';

export interface Checkpoint {
  format: string;
  seq: number;
  hash: string;
  time: string;
  signer: string;
  signature: string;
}

const payload = (seq: number, hash: string): string => `${CHECKPOINT_FORMAT}:${seq}:${hash}`;

/** Default checkpoint file of an audit URL: beside the SQLite file; for PostgreSQL, in `dir` (the config's folder). */
export function defaultCheckpoint(url: string, dir: string): string {
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) return path.join(dir, 'audit-checkpoint.json');
  return `${url.replace(/^sqlite:/, '')}.checkpoint`;
}

export function writeCheckpoint(
  file: string,
  signer: { key: KeyObject; subject: string },
  rec: Pick<AuditRecord, 'seq' | 'hash'>,
): void {
  const cp: Checkpoint = {
    format: CHECKPOINT_FORMAT,
    seq: rec.seq,
    hash: rec.hash,
    time: new Date().toISOString(),
    signer: signer.subject,
    signature: createSign('SHA256').update(payload(rec.seq, rec.hash)).sign(signer.key).toString('base64'),
  };
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o640);
  try {
    writeSync(fd, JSON.stringify(cp) + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  try {
    const d = openSync(path.dirname(file), 'r');
    try {
      fsyncSync(d);
    } finally {
      closeSync(d);
    }
  } catch {
    /* directory fsync unsupported */
  }
}

/** The checkpoint in `file`, null when there is none; throws (with a reason) when it is unreadable. */
export function readCheckpoint(file: string): Checkpoint | null {
  if (!existsSync(file)) return null;
  let cp: Checkpoint;
  try {
    cp = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    throw new Error(`checkpoint '${file}' is not valid JSON`);
  }
  if (
    cp?.format !== CHECKPOINT_FORMAT ||
    !Number.isSafeInteger(cp.seq) ||
    cp.seq < 1 ||
    typeof cp.hash !== 'string' ||
    typeof cp.signature !== 'string'
  ) {
    throw new Error(`checkpoint '${file}' is not a medshield audit checkpoint`);
  }
  return cp;
}

/** Does the checkpoint's signature verify with the gateway's public key? */
export function checkpointSignatureValid(cp: Checkpoint, publicKey: KeyObject): boolean {
  try {
    return createVerify('SHA256')
      .update(payload(cp.seq, cp.hash))
      .verify(publicKey, Buffer.from(cp.signature, 'base64'));
  } catch {
    return false;
  }
}
