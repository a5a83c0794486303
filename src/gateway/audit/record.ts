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
  | 'ApplicationActivity' // gateway start / stop
  | 'DICOMInstancesAccessed' // an image was classified (served)
  | 'UserAuthentication' // authentication / authorization failure
  | 'SecurityAlert' // signature failure, query attack, rate limit
  | 'Query' // audit log read
  | 'AuditLogSigned'; // periodic signature over the chain head

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
  'seq',
  'prevHash',
  'hash',
  'event',
  'action',
  'outcome',
  'time',
  'requestId',
  'userId',
  'role',
  'sourceAddress',
  'route',
  'status',
  'sopInstanceUid',
  'imageSha256',
  'signer',
  'modelId',
  'modelVersion',
  'decision',
  'flags',
  'reason',
  'signature',
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
    return (
      '{' +
      Object.keys(o)
        .filter((k) => o[k] !== undefined)
        .sort()
        .map((k) => JSON.stringify(k) + ':' + canonical(o[k]))
        .join(',') +
      '}'
    );
  }
  throw new Error(`cannot encode ${typeof v} in an audit record`);
}

export function recordHash(r: Omit<AuditRecord, 'hash'> | AuditRecord): string {
  const { hash: _ignored, ...rest } = r as AuditRecord;
  return createHash('sha256').update(canonical(rest)).digest('hex');
}

/**
 * Longest string a record field keeps (longer values are cut, with a marker): a client cannot grow records without
 * bound.
 */
export const MAX_FIELD_CHARS = 2000;

const ACTIONS = new Set(['C', 'R', 'U', 'D', 'E']);

/**
 * A field value as every store keeps it byte for byte: strings without NUL (PostgreSQL text refuses it) and without
 * lone UTF-16 surrogates (they do not survive UTF-8 storage, so the hash would not verify after a read-back), cut to
 * MAX_FIELD_CHARS; anything else that is not a string becomes its String() form. undefined → null.
 */
export function cleanText(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  let s = typeof v === 'string' ? v : String(v);
  // eslint-disable-next-line no-control-regex
  s = s
    .replace(/\u0000/g, '\uFFFD')
    .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
  return s.length > MAX_FIELD_CHARS ? s.slice(0, MAX_FIELD_CHARS - 1) + '…' : s;
}

const cleanInt = (v: unknown): number | null => (typeof v === 'number' && Number.isSafeInteger(v) ? v : null);

/**
 * Fill unset fields with null so every record has every column, and make every field a value the stores accept and
 * give back unchanged (cleanText, safe integers): no request — aborted, malformed or hostile — can produce a record the
 * store refuses, which would switch the fail-closed gateway into 503 for everyone.
 */
export function completeFields(f: Partial<AuditFields> & Pick<AuditFields, 'event' | 'outcome'>): AuditFields {
  const out: Record<string, unknown> = {
    action: 'E',
    time: new Date().toISOString(),
    requestId: null,
    userId: null,
    role: null,
    sourceAddress: null,
    route: null,
    status: null,
    sopInstanceUid: null,
    imageSha256: null,
    signer: null,
    modelId: null,
    modelVersion: null,
    decision: null,
    flags: '',
    reason: null,
    signature: null,
  };
  for (const [k, v] of Object.entries(f)) {
    if (v === undefined) continue;
    if (k === 'outcome' || k === 'status') out[k] = cleanInt(v);
    else if (k === 'action') out[k] = ACTIONS.has(v as string) ? v : 'E';
    else if (k === 'time') out[k] = typeof v === 'string' && !Number.isNaN(Date.parse(v)) ? v : out.time;
    else out[k] = cleanText(v);
  }
  // Every stored column has a value (a column added to RECORD_COLUMNS defaults to null without more code).
  for (const c of RECORD_COLUMNS)
    if (c !== 'seq' && c !== 'prevHash' && c !== 'hash' && out[c] === undefined) out[c] = null;
  out.outcome ??= OUTCOME.majorFailure;
  out.flags ??= '';
  return out as unknown as AuditFields;
}

export function chainRecord(fields: AuditFields, seq: number, prevHash: string): AuditRecord {
  const r = { ...fields, seq, prevHash } as Omit<AuditRecord, 'hash'>;
  return { ...r, hash: recordHash(r) } as AuditRecord;
}
