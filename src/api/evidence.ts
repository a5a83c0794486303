/**
 * Evidence bundles (issue 23, view 6): one zip with what a premarket cybersecurity file (FDA, "Cybersecurity
 * in Medical Devices: Quality System Considerations and Content of Premarket Submissions", 2023 — section
 * 524B of the FD&C Act) or an internal AI committee asks for about one campaign: its HTML report, status and
 * per-job results (from the campaign store), the campaign spec, the model cards, a CycloneDX SBOM, the
 * gateway's threat model (docs/gateway.md §9) and, when the caller passes one, the gateway audit log's
 * verification result.
 *
 * Integrity: `manifest.json` lists every other file with its size and SHA-256; `manifest.jws` is a compact
 * JWS (RFC 7515) over exactly those manifest bytes, signed with the project's signing keys (`medshield keys
 * init`: RSA → RS256, EC → ES256/384/512; x5c chain in the header, as signed answers). Verification
 * ({@link verifyEvidence}) recomputes every hash and refuses anything ambiguous: duplicate or unsafe entry
 * names, files not in the manifest, manifest entries not in the zip, a manifest.json that differs from the
 * signed payload. Without keys the bundle carries the manifest only and verifies as "unsigned" (invalid).
 */
import { createHash, createSign, type KeyObject } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { unzipSync, zipSync, type Zippable } from 'fflate';
import { MedshieldError, badInput, notFound } from '../errors.js';
import { PACKAGE_ROOT, VERSION, gitCommit } from '../version.js';
import { resolveModelPath } from '../models/io.js';
import { CARD_FILE } from '../models/card.js';
import { jwsAlgFor, verifyResult } from '../provenance/result-signature.js';
import { campaignCsv, campaignStatus, canonicalJson, type CampaignStore } from './campaign/index.js';
import { campaignReportHtml } from './campaign/report.js';
import { resolveModelRef } from './campaign/spec.js';

export const MANIFEST = 'manifest.json';
export const MANIFEST_JWS = 'manifest.jws';
export const EVIDENCE_SCHEMA = 'medshield.evidence-manifest/1';
const JWS_TYP = 'medshield-evidence+jws';

export interface EvidenceSigner {
  key: KeyObject;
  /** DER certificates, the signer's first (x5c order). */
  chain: Buffer[];
}

export interface EvidenceOptions {
  /** Signing key + certificate chain; without it the manifest is not signed. */
  signer?: EvidenceSigner | null;
  /** Include a CycloneDX SBOM (runs @cyclonedx/cyclonedx-npm, as `medshield sbom`; ~20 s). Default true. */
  sbom?: boolean;
  /** Gateway audit-log verification result (the shell computes it from --gateway-config). */
  audit?: unknown;
  /** What the caller ran (recorded in the manifest). */
  command?: string;
  now?: Date;
}

export interface ManifestEntry {
  path: string;
  bytes: number;
  sha256: string;
  description: string;
}
export interface EvidenceManifest {
  schema: string;
  campaign: { id: string; name: string; specHash: string; status: string };
  createdAt: string;
  medshieldVersion: string;
  gitCommit: string | null;
  command: string | null;
  signed: boolean;
  files: ManifestEntry[];
  notes: string[];
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const b64u = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

/** The CycloneDX SBOM (JSON text) of the runtime dependencies: the same tool and arguments as `medshield sbom`. */
export function cycloneDxSbom(specVersion = '1.6'): string {
  const req = createRequire(import.meta.url);
  const bin = path.join(path.dirname(req.resolve('@cyclonedx/cyclonedx-npm')), 'bin', 'cyclonedx-npm-cli.js');
  const r = spawnSync(
    process.execPath,
    [bin, '--output-format', 'JSON', '--spec-version', specVersion, '--output-file', '-', '--omit', 'dev'],
    { cwd: PACKAGE_ROOT, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 },
  );
  if (r.status !== 0)
    throw new MedshieldError(
      'INTERNAL',
      `cyclonedx-npm failed: ${(r.stderr || '').trim().split('\n').pop() ?? 'unknown error'}`,
    );
  return r.stdout;
}

/** The threat-model section of docs/gateway.md (§9, up to the next level-2 heading). */
export function gatewayThreatModel(): string {
  const file = path.join(PACKAGE_ROOT, 'docs', 'gateway.md');
  if (!existsSync(file)) throw notFound(`${file} is missing (the gateway's threat model)`);
  const md = readFileSync(file, 'utf8');
  const start = md.search(/^## 9\. Threat model/m);
  if (start < 0) throw notFound('docs/gateway.md has no "## 9. Threat model" section');
  const rest = md.slice(start);
  const end = rest.slice(3).search(/^## /m);
  return (
    `<!-- from docs/gateway.md, medshield ${VERSION} -->\n${end < 0 ? rest : rest.slice(0, end + 3)}`.trimEnd() + '\n'
  );
}

/** Sign manifest bytes as a compact JWS {alg, typ, x5c}. */
function signManifest(bytes: Buffer, s: EvidenceSigner): string {
  const alg = jwsAlgFor(s.key);
  const header = { alg, typ: JWS_TYP, x5c: s.chain.map((d) => d.toString('base64')) };
  const input = `${b64u(JSON.stringify(header))}.${b64u(bytes)}`;
  const hash = { RS256: 'sha256', ES256: 'sha256', ES384: 'sha384', ES512: 'sha512' }[alg];
  const sg = createSign(hash).update(input);
  const sig = alg === 'RS256' ? sg.sign(s.key) : sg.sign({ key: s.key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${b64u(sig)}`;
}

/** Build the evidence bundle of campaign `id` as zip bytes (plus its manifest). */
export async function buildEvidence(
  store: CampaignStore,
  id: string,
  o: EvidenceOptions = {},
): Promise<{ zip: Uint8Array; manifest: EvidenceManifest }> {
  const c = await store.getCampaign(id);
  if (!c) throw notFound(`no campaign '${id}' in ${store.where}`);
  const status = await campaignStatus(store, id);
  const files: Array<{ path: string; body: Buffer; description: string }> = [];
  const add = (p: string, body: string | Buffer, description: string): void => {
    files.push({ path: p, body: Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8'), description });
  };
  const notes: string[] = [];
  const { baseDir, ...spec } = c.spec;
  add(
    'campaign/spec.json',
    JSON.stringify(JSON.parse(canonicalJson(spec)), null, 2) + '\n',
    `campaign spec (canonical; sha256 of its canonical JSON = specHash ${c.specHash})`,
  );
  add(
    'campaign/status.json',
    JSON.stringify(status, null, 2) + '\n',
    'campaign status: per model × attack × ε results and detection rows (as `medshield campaign status --json`)',
  );
  add(
    'campaign/results.csv',
    await campaignCsv(store, id),
    'every job result (as `medshield campaign export --format csv`)',
  );
  try {
    add('campaign/report.html', await campaignReportHtml(store, id), "the campaign's HTML report (self-contained)");
  } catch (e) {
    if (!(e instanceof MedshieldError)) throw e;
    notes.push(`no HTML report: ${e.message}`);
  }
  const seen = new Set<string>();
  for (const m of c.spec.models) {
    const dir = resolveModelPath(resolveModelRef(m.ref, baseDir));
    const card = path.join(dir, CARD_FILE);
    const name = (m.name || path.basename(dir)).replace(/[^A-Za-z0-9._-]/g, '_');
    if (seen.has(name)) continue;
    seen.add(name);
    if (existsSync(card))
      add(
        `models/${name}/model-card.json`,
        readFileSync(card),
        `model card of '${m.name}' (${m.ref}): architecture, training data, metrics, weights sha256`,
      );
    else notes.push(`model '${m.name}' (${m.ref}): no model card at ${card}`);
  }
  if (o.sbom !== false)
    add('sbom.cdx.json', cycloneDxSbom(), 'CycloneDX SBOM of the runtime dependencies (as `medshield sbom`)');
  else notes.push('no SBOM (skipped by the caller)');
  add(
    'gateway/threat-model.md',
    gatewayThreatModel(),
    "the gateway's threat model: STRIDE over scanner → network → gateway → model → audit store → result",
  );
  if (o.audit !== undefined)
    add(
      'gateway/audit-verification.json',
      JSON.stringify(o.audit, null, 2) + '\n',
      "the gateway audit log's verification (hash chain, gateway " +
        'signatures, checkpoint), as `medshield audit verify --json`',
    );
  else notes.push('no gateway audit verification (no gateway configuration given)');
  add(
    'README.txt',
    [
      `medshield evidence bundle for campaign ${c.id} (${c.name})`,
      '',
      'manifest.json lists every other file of this zip with its size and SHA-256; manifest.jws is a JWS (RFC 7515)',
      'over exactly the bytes of manifest.json, signed with the signer certificate in its x5c header.',
      'Verify:  medshield verify bundle.zip --trust CA.pem   (exit 0 valid, 1 invalid, 2 not a bundle)',
      '',
      ...files.map((f) => `${f.path}: ${f.description}`),
      '',
    ].join('\n'),
    'this explanation',
  );
  const manifest: EvidenceManifest = {
    schema: EVIDENCE_SCHEMA,
    campaign: { id: c.id, name: c.name, specHash: c.specHash, status: status.status },
    createdAt: (o.now ?? new Date()).toISOString(),
    medshieldVersion: VERSION,
    gitCommit: gitCommit(),
    command: o.command ?? null,
    signed: !!o.signer,
    files: files.map((f) => ({
      path: f.path,
      bytes: f.body.length,
      sha256: sha256(f.body),
      description: f.description,
    })),
    notes,
  };
  const mBytes = Buffer.from(JSON.stringify(manifest, null, 2) + '\n', 'utf8');
  const z: Zippable = {};
  const mtime = o.now ?? new Date();
  for (const f of files) z[f.path] = [new Uint8Array(f.body), { mtime }];
  z[MANIFEST] = [new Uint8Array(mBytes), { mtime }];
  if (o.signer) z[MANIFEST_JWS] = [new Uint8Array(Buffer.from(signManifest(mBytes, o.signer), 'latin1')), { mtime }];
  return { zip: zipSync(z, { level: 6 }), manifest };
}

export interface EvidenceVerification {
  valid: boolean;
  reason: string;
  signer: string | null;
  campaign: string | null;
  /** Per manifest entry: ok, or why not. */
  files: Array<{ path: string; ok: boolean; reason?: string }>;
}

/** True when the bytes start like a zip file (local file header). */
export function isZip(b: Uint8Array): boolean {
  return b.length >= 4 && b[0] === 0x50 && b[1] === 0x4b && b[2] === 0x03 && b[3] === 0x04;
}

/** Refuse zips that unpack to more than this (a bundle is a few MiB; the SBOM is the largest file). */
const MAX_UNZIPPED = 512 * 2 ** 20;

const SAFE_NAME = /^(?!\/)(?!.*(?:^|\/)\.\.?(?:\/|$))[A-Za-z0-9._/-]{1,200}$/;

/**
 * Verify an evidence bundle against trusted CA certificates (DER). Throws BAD_INPUT (exit 2) when the bytes
 * are not a readable zip or hold no manifest; returns valid: false for everything else.
 */
export async function verifyEvidence(bytes: Uint8Array, trust: Uint8Array[]): Promise<EvidenceVerification> {
  const names: string[] = [];
  let entries: Record<string, Uint8Array>;
  let total = 0;
  try {
    entries = unzipSync(bytes, {
      filter: (f) => {
        names.push(f.name);
        total += f.originalSize;
        return total <= MAX_UNZIPPED;
      },
    });
  } catch (e) {
    throw badInput(`not a readable zip file (${e instanceof Error ? e.message : String(e)})`);
  }
  if (total > MAX_UNZIPPED)
    throw badInput(`the zip unpacks to more than ${MAX_UNZIPPED / 2 ** 20} MiB: not an evidence bundle`);
  if (!(MANIFEST in entries)) throw badInput(`not an evidence bundle: no ${MANIFEST} in the zip`);
  const out: EvidenceVerification = { valid: false, reason: '', signer: null, campaign: null, files: [] };
  const fail = (reason: string): EvidenceVerification => ({ ...out, valid: false, reason });
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) return fail(`the zip holds '${dup}' twice (ambiguous)`);
  const unsafe = names.find((n) => !SAFE_NAME.test(n));
  if (unsafe) return fail(`entry name ${JSON.stringify(unsafe.slice(0, 80))} is not a plain relative path`);
  let manifest: EvidenceManifest;
  const mBytes = Buffer.from(entries[MANIFEST]);
  try {
    manifest = JSON.parse(mBytes.toString('utf8')) as EvidenceManifest;
  } catch {
    return fail(`${MANIFEST} is not JSON`);
  }
  if (manifest?.schema !== EVIDENCE_SCHEMA || !Array.isArray(manifest.files))
    return fail(`${MANIFEST} is not a ${EVIDENCE_SCHEMA} manifest`);
  out.campaign = manifest.campaign?.id ?? null;
  const listed = new Map<string, ManifestEntry>();
  for (const f of manifest.files) {
    if (
      !f ||
      typeof f.path !== 'string' ||
      typeof f.sha256 !== 'string' ||
      listed.has(f.path) ||
      f.path === MANIFEST ||
      f.path === MANIFEST_JWS
    )
      return fail(`${MANIFEST} has a bad or repeated entry`);
    listed.set(f.path, f);
  }
  for (const [p, f] of listed) {
    const b = entries[p];
    if (!b) out.files.push({ path: p, ok: false, reason: 'missing from the zip' });
    else if (sha256(b) !== f.sha256 || b.length !== f.bytes)
      out.files.push({ path: p, ok: false, reason: 'content differs from the manifest (sha256)' });
    else out.files.push({ path: p, ok: true });
  }
  const extra = Object.keys(entries).filter((n) => n !== MANIFEST && n !== MANIFEST_JWS && !listed.has(n));
  for (const n of extra) out.files.push({ path: n, ok: false, reason: 'not listed in the manifest' });
  const jws = entries[MANIFEST_JWS];
  if (!jws) return fail('the manifest is not signed (no manifest.jws)');
  let sig;
  try {
    sig = await verifyResult(Buffer.from(jws).toString('latin1'), { trust });
  } catch (e) {
    return fail(`manifest.jws: ${e instanceof Error ? e.message : String(e)}`);
  }
  out.signer = sig.signer;
  const parts = Buffer.from(jws).toString('latin1').trim().split('.');
  let typ: unknown;
  try {
    typ = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8')).typ;
  } catch {
    typ = null;
  }
  if (!sig.valid)
    return fail(`manifest signature: ${sig.reason.replace('the answer was altered', 'the manifest was altered')}`);
  if (typ !== JWS_TYP) return fail(`manifest.jws is not an evidence manifest signature (typ ${JSON.stringify(typ)})`);
  if (!Buffer.from(parts[1], 'base64url').equals(mBytes)) return fail(`${MANIFEST} differs from the signed manifest`);
  const bad = out.files.filter((f) => !f.ok);
  if (bad.length)
    return fail(
      `${bad.length} file(s) fail: ${bad
        .slice(0, 3)
        .map((f) => `${f.path} (${f.reason})`)
        .join('; ')}`,
    );
  return { ...out, valid: true, reason: `${listed.size} files match the manifest signed by "${sig.signer}"` };
}
