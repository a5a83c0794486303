/**
 * `verifyAuditLog`: check a gateway audit log — its hash chain, the gateway's chain signatures and the signed
 * checkpoint (src/gateway/audit/verify.ts) — from a gateway configuration or a database URL. Used by
 * `medshield audit verify` and the dashboard's gateway view.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { MedshieldError, badArgument, badInput, oneLine } from '../../errors.js';
import { auditCheckpointFile, loadGatewayConfig } from '../config.js';
import { openAuditStore, type AuditStore } from './store.js';
import { SqliteAuditStore } from './sqlite.js';
import { defaultCheckpoint } from './checkpoint.js';
import { verifyChain, type ChainReport } from './verify.js';

export interface AuditVerifySpec {
  /** Gateway configuration file (audit.url, audit.signingCert, audit.signEvery, audit.checkpoint). */
  config?: string;
  /** Audit database (sqlite:PATH, PATH or postgres://…) instead of `config`. */
  db?: string;
  /** Gateway certificate: makes chain signatures required. */
  cert?: string;
  checkpoint?: string;
  signEvery?: number;
}

export async function verifyAuditLog(spec: AuditVerifySpec): Promise<ChainReport> {
  if (!!spec.config === !!spec.db) throw badArgument('give exactly one of --config or --db');
  let url = spec.db ?? '';
  let certFile = spec.cert ?? null;
  let checkpoint = spec.checkpoint ?? null;
  let signEvery = spec.signEvery ?? null;
  if (spec.config) {
    const c = loadGatewayConfig(spec.config);
    url = c.audit.url;
    certFile ??= c.audit.signingCert;
    signEvery ??= c.audit.signEvery;
    checkpoint ??= auditCheckpointFile(c.audit, path.dirname(path.resolve(spec.config)));
  } else if (!url.startsWith('postgres') && !checkpoint && existsSync(defaultCheckpoint(url, process.cwd()))) {
    checkpoint = defaultCheckpoint(url, process.cwd());
  }
  let publicKey: KeyObject | null = null;
  if (certFile) {
    try {
      publicKey = createPublicKey(
        new X509Certificate(readFileSync(certFile)).publicKey.export({ type: 'spki', format: 'pem' }),
      );
    } catch (e) {
      throw badInput(`cannot read gateway certificate '${certFile}': ${oneLine(e)}`);
    }
  }
  const file = url.replace(/^sqlite:/, '');
  const store: AuditStore = url.startsWith('postgres')
    ? await openAuditStore(url)
    : SqliteAuditStore.open(file, { readOnly: true });
  try {
    return await verifyChain(store, publicKey, { signEvery, checkpoint });
  } catch (e) {
    if (e instanceof MedshieldError) throw e;
    throw badInput(`cannot read audit database '${file}': ${oneLine(e)}`);
  } finally {
    await store.close().catch(() => undefined);
  }
}
