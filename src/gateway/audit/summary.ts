/**
 * Read-only views of a gateway's audit log for the dashboard (gateway view) and evidence bundles: the chain's
 * verification (exactly `medshield audit verify --config`: hash chain, gateway signatures when the config names
 * the certificate, the signed checkpoint) and an overview of the latest records — request rate, refusals by
 * reason (unsigned, invalid signature, detector, query attack, authentication, rate limit), query-attack alerts
 * per API key, and the newest records WITHOUT image hashes, SOP Instance UIDs or anything from the image
 * (IHE ATNA participant-object fields are left out: no patient or study identifier reaches a page).
 *
 * Where the records come from: a running gateway owns its SQLite log exclusively (WAL with locking_mode=EXCLUSIVE,
 * see sqlite.ts), so while it runs the log is read through its API — GET /v1/audit and /v1/audit/verify with an
 * auditor key (those reads are themselves audited as Query records, which the figures leave out). The gateway's
 * URL and key come from MEDSHIELD_GATEWAY_URL (default: http://listen.host:listen.port of the configuration) and
 * MEDSHIELD_GATEWAY_KEY. Without a key, or when no gateway answers, the store is opened directly (a stopped
 * gateway's SQLite file, or PostgreSQL).
 */
import { createPublicKey, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { badInput, oneLine } from '../../errors.js';
import { auditCheckpointFile, type GatewayConfig } from '../config.js';
import { openAuditStore, type AuditStore } from './store.js';
import { SqliteAuditStore } from './sqlite.js';
import { verifyChain, type ChainReport } from './verify.js';
import type { AuditRecord } from './record.js';

/** Open the config's audit store read-only (SQLite) or as a client (PostgreSQL). */
async function openForReading(c: GatewayConfig): Promise<AuditStore> {
  const url = c.audit.url;
  if (url.startsWith('postgres')) return openAuditStore(url);
  const file = url.replace(/^sqlite:/, '');
  if (!existsSync(file)) throw badInput(`audit database '${file}' does not exist (has the gateway run?)`);
  return SqliteAuditStore.open(file, { readOnly: true });
}

/** A running gateway's audit API (URL + auditor key), or null when none is configured in the environment. */
export function gatewayApi(
  c: GatewayConfig,
  env: NodeJS.ProcessEnv = process.env,
): { url: string; key: string } | null {
  const key = env.MEDSHIELD_GATEWAY_KEY;
  if (!key) return null;
  const host = c.listen.host === '0.0.0.0' || c.listen.host === '::' ? '127.0.0.1' : c.listen.host;
  const url = (
    env.MEDSHIELD_GATEWAY_URL ||
    `${c.tls.cert ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${c.listen.port}`
  ).replace(/\/+$/, '');
  return { url, key };
}

async function apiGet<T>(api: { url: string; key: string }, p: string): Promise<T> {
  let r: Response;
  try {
    r = await fetch(`${api.url}${p}`, { headers: { authorization: `Bearer ${api.key}` } });
  } catch (e) {
    throw badInput(`gateway at ${api.url} does not answer (${oneLine((e as Error).cause ?? e)})`);
  }
  if (!r.ok)
    throw badInput(
      `gateway at ${api.url}: ${p.split('?')[0]} answered ${r.status} (` +
        `${oneLine(((await r.json().catch(() => ({}))) as { message?: string }).message ?? '')})`,
    );
  return (await r.json()) as T;
}

/**
 * `medshield audit verify --config` as a function: through the running gateway's API when one is configured, else on
 * the store.
 */
export async function verifyGatewayAudit(
  c: GatewayConfig,
  configPath: string,
  o: { live?: boolean } = {},
): Promise<ChainReport & { store: string; checkedAt: string; via: 'gateway-api' | 'store' }> {
  const api = gatewayApi(c);
  if (api)
    return {
      ...(await apiGet<ChainReport>(api, '/v1/audit/verify')),
      store: c.audit.url.startsWith('postgres') ? 'postgres' : 'sqlite',
      checkedAt: new Date().toISOString(),
      via: 'gateway-api',
    };
  let publicKey = null;
  if (c.audit.signingCert) {
    try {
      publicKey = createPublicKey(
        new X509Certificate(readFileSync(c.audit.signingCert)).publicKey.export({ type: 'spki', format: 'pem' }),
      );
    } catch (e) {
      throw badInput(`cannot read gateway certificate '${c.audit.signingCert}': ${oneLine(e)}`);
    }
  }
  const store = await openForReading(c);
  try {
    const r = await verifyChain(store, publicKey, {
      signEvery: c.audit.signEvery,
      checkpoint: auditCheckpointFile(c.audit, path.dirname(path.resolve(configPath))),
      live: o.live,
    });
    return { ...r, store: store.kind, checkedAt: new Date().toISOString(), via: 'store' };
  } finally {
    await store.close().catch(() => undefined);
  }
}

export type RefusalReason =
  | 'unsigned'
  | 'invalid-signature'
  | 'detector'
  | 'query-attack'
  | 'authentication'
  | 'rate-limit'
  | 'bad-input'
  | 'other';
export const REFUSAL_REASONS: RefusalReason[] = [
  'unsigned',
  'invalid-signature',
  'detector',
  'query-attack',
  'authentication',
  'rate-limit',
  'bad-input',
  'other',
];

/** Why a request record was refused, or null when it was served (or is not a request). */
export function refusalReason(
  r: Pick<AuditRecord, 'status' | 'reason' | 'flags' | 'route' | 'event'>,
): RefusalReason | null {
  if (r.status === null || r.status < 400 || r.route === 'query-detector') return null;
  const reason = r.reason ?? '';
  const flags = r.flags ?? '';
  if (r.status === 429 && flags.includes('query-attack-suspected')) return 'query-attack';
  if (
    /detector-block:/.test(flags) ||
    (r.status === 422 && /input detectors?:/.test(reason) && !/signature|signed/i.test(reason))
  )
    return 'detector';
  if (r.status === 422 && /^unsigned\b|not signed|no (DICOM |JWS )?signature/i.test(reason)) return 'unsigned';
  if (r.status === 422) return 'invalid-signature';
  if (r.status === 401 || r.status === 403) return 'authentication';
  if (r.status === 429) return 'rate-limit';
  if (r.status === 400 || r.status === 413 || r.status === 415) return 'bad-input';
  return 'other';
}

/** An audit record as the dashboard shows it: no image hash, no SOP Instance UID, no signature bytes. */
export interface PublicRecord {
  seq: number;
  time: string;
  event: string;
  outcome: number;
  route: string | null;
  status: number | null;
  userId: string | null;
  role: string | null;
  decision: string | null;
  flags: string;
  reason: string | null;
  refusal: RefusalReason | null;
  hash: string;
}

export interface GatewayOverview {
  headSeq: number;
  /**
   * Records read for the figures below (the newest `window` records; audit reads — Query records — are not counted as
   * requests or listed).
   */
  window: number;
  requests: number;
  /** Requests per second over the last minute and over the records read (first to last record time). */
  requestsPerSecond: { lastMinute: number; window: number };
  refusals: Record<RefusalReason, number>;
  /** Query-attack alerts (route 'query-detector' records) per API key id. */
  queryAlerts: Array<{ userId: string | null; alerts: number; last: string; decision: string | null }>;
  latest: PublicRecord[];
}

const isRequest = (r: AuditRecord): boolean =>
  r.status !== null &&
  r.route !== 'query-detector' &&
  !['AuditLogSigned', 'ApplicationActivity', 'Query'].includes(r.event);

/** The newest `window` records: through the gateway's API, or from the store. */
async function newestRecords(c: GatewayConfig, window: number): Promise<{ headSeq: number; recs: AuditRecord[] }> {
  const api = gatewayApi(c);
  const recs: AuditRecord[] = [];
  if (api) {
    const first = await apiGet<{ records: AuditRecord[]; headSeq: number }>(
      api,
      `/v1/audit?after=${Number.MAX_SAFE_INTEGER}&limit=1`,
    );
    const headSeq = first.headSeq;
    let after = Math.max(0, headSeq - window);
    while (after < headSeq) {
      const page = (
        await apiGet<{ records: AuditRecord[] }>(
          api,
          `/v1/audit?after=${after}&limit=${Math.min(10000, headSeq - after)}`,
        )
      ).records;
      if (!page.length) break;
      recs.push(...page);
      after = page[page.length - 1].seq;
    }
    return { headSeq, recs };
  }
  const store = await openForReading(c);
  try {
    const headSeq = (await store.head())?.seq ?? 0;
    let after = Math.max(0, headSeq - window);
    while (after < headSeq) {
      const page = await store.page(after, Math.min(5000, headSeq - after));
      if (!page.length) break;
      recs.push(...page);
      after = page[page.length - 1].seq;
    }
    return { headSeq, recs };
  } finally {
    await store.close().catch(() => undefined);
  }
}

/** Figures and latest records from the newest `window` records of the config's audit log. */
export async function gatewayOverview(
  c: GatewayConfig,
  o: { window?: number; latest?: number; now?: Date } = {},
): Promise<GatewayOverview> {
  const window = o.window ?? 10000;
  const latestN = o.latest ?? 25;
  const { headSeq, recs } = await newestRecords(c, window);
  {
    const requests = recs.filter(isRequest);
    const refusals = Object.fromEntries(REFUSAL_REASONS.map((k) => [k, 0])) as Record<RefusalReason, number>;
    for (const r of requests) {
      const k = refusalReason(r);
      if (k) refusals[k]++;
    }
    const now = (o.now ?? new Date()).getTime();
    const lastMinute = requests.filter((r) => now - Date.parse(r.time) <= 60_000).length / 60;
    const span =
      requests.length > 1 ? (Date.parse(requests[requests.length - 1].time) - Date.parse(requests[0].time)) / 1000 : 0;
    const alerts = new Map<string, { userId: string | null; alerts: number; last: string; decision: string | null }>();
    for (const r of recs.filter((x) => x.route === 'query-detector')) {
      const k = r.userId ?? '(no key)';
      const a = alerts.get(k) ?? { userId: r.userId, alerts: 0, last: r.time, decision: r.decision };
      a.alerts++;
      a.last = r.time;
      a.decision = r.decision;
      alerts.set(k, a);
    }
    const latest = recs
      .filter((r) => r.event !== 'Query')
      .slice(-latestN)
      .reverse()
      .map(
        (r): PublicRecord => ({
          seq: r.seq,
          time: r.time,
          event: r.event,
          outcome: r.outcome,
          route: r.route,
          status: r.status,
          userId: r.userId,
          role: r.role,
          decision: r.event === 'AuditLogSigned' ? 'chain head signed' : r.decision,
          flags: r.flags,
          reason: r.reason,
          refusal: isRequest(r) ? refusalReason(r) : null,
          hash: r.hash.slice(0, 16),
        }),
      );
    return {
      headSeq,
      window: recs.length,
      requests: requests.length,
      requestsPerSecond: {
        lastMinute: Math.round(lastMinute * 1000) / 1000,
        window: span > 0 ? Math.round((requests.length / span) * 1000) / 1000 : 0,
      },
      refusals,
      queryAlerts: [...alerts.values()].sort((a, b) => b.alerts - a.alerts),
      latest,
    };
  }
}
