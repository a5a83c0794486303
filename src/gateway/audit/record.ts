/**
 * Audit records and their hash chain.
 *
 * Fields follow IHE ATNA / DICOM PS3.15 Annex A.5 audit messages (RFC 3881 lineage): EventIdentification
 * (event, action, outcome, time), ActiveParticipant (user = API key id, role, network access point =
 * source address), ParticipantObjectIdentification (SOP Instance UID, SHA-256 of the image), plus the
 * gateway's own: model id and version, decision, flags, HTTP status, reason, request id.
 *
 * Chain rule: hash_i = SHA-256( canonical(record_i without `hash`) ), where record_i carries
 * prevHash = hash_{i-1} (64 zeros for seq 1) and seq = i. canonical() is JSON with keys sorted at every
 * level and no whitespace (the RFC 8785 JCS idea, restricted to strings, integers, booleans and null,
 * which is all a record holds), so any change to any field of any record breaks that record's hash and
 * every later prevHash link.
 */
import { createHash } from 'node:crypto';

/** DICOM PS3.15 A.5.1 / RFC 3881 outcome codes. */
export const OUTCOME = { success: 0, minorFailure: 4, seriousFailure: 8, majorFailure: 12 } as const;

export type AuditEvent =
  | 'ApplicationActivity'     // gateway start / stop
  | 'DICOMInstancesAccessed'  // an image was classified (served)
  | 'UserAuthentication'      // authentication / authorization failure
  | 'SecurityAlert'           // signature failure, query attack, rate limit
  | 'Query'                   // audit log read
  | 'AuditLogSigned';         // periodic signature over the chain head

export interface AuditFields {
  event: AuditEvent;
  /** C(reate) R(ead) U(pdate) D(elete) E(xecute). */
  action: 'C' | 'R' | 'U' | 'D' | 'E';
  outcome: number;
  time: string;
  requestId: string | null;
  userId: string | null;
  role: string | null;
  sourceAddress: string | null;
  route: string | null;
  status: number | null;
  sopInstanceUid: string | null;
  imageSha256: string | null;
  signer: string | null;
  modelId: string | null;
  modelVersion: string | null;
  decision: string | null;
  flags: string;
  reason: string | null;
  /** AuditLogSigned only: base64 signature over the previous record's hash, and the algorithm. */
  signature: string | null;
}

export interface AuditRecord extends AuditFields {
  seq: number;
  prevHash: string;
  hash: string;
}

export const GENESIS_HASH = '0'.repeat(64);

/** Column order of the stored record (both SQL stores use it). */
export const RECORD_COLUMNS: Array<keyof AuditRecord> = [
  'seq', 'prevHash', 'hash', 'event', 'action', 'outcome', 'time', 'requestId', 'userId', 'role', 'sourceAddress', 'route', 'status',
  'sopInstanceUid', 'imageSha256', 'signer', 'modelId', 'modelVersion', 'decision', 'flags', 'reason', 'signature',
];

export function canonical(v: unknown): string {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new Error('audit records hold integers only');
    return String(v);
  }
  if (Array.isArray(v)) return '[' + v.map(canonical).join(',') + ']';
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return '{' + Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => JSON.stringify(k) + ':' + canonical(o[k])).join(',') + '}';
  }
  throw new Error(`cannot encode ${typeof v} in an audit record`);
}

export function recordHash(r: Omit<AuditRecord, 'hash'> | AuditRecord): string {
  const { hash: _ignored, ...rest } = r as AuditRecord;
  return createHash('sha256').update(canonical(rest)).digest('hex');
}

/** Fill unset fields with null so every record has every column. */
export function completeFields(f: Partial<AuditFields> & Pick<AuditFields, 'event' | 'outcome'>): AuditFields {
  return {
    action: 'E', time: new Date().toISOString(), requestId: null, userId: null, role: null, sourceAddress: null, route: null, status: null,
    sopInstanceUid: null, imageSha256: null, signer: null, modelId: null, modelVersion: null, decision: null, flags: '', reason: null, signature: null,
    ...f,
  };
}

export function chainRecord(fields: AuditFields, seq: number, prevHash: string): AuditRecord {
  const r = { ...fields, seq, prevHash } as Omit<AuditRecord, 'hash'>;
  return { ...r, hash: recordHash(r) } as AuditRecord;
}
