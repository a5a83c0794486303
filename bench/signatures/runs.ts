/**
 * The tamper run and the fuzz run, as functions shared by the test suite (short) and the bench scripts
 * (≥ 10 000 mutants, ≥ 100 000 inputs). Both use the real DICOM files in ../shared/data/dicom.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { MedshieldError } from '../../src/errors.js';
import { PACKAGE_ROOT } from '../../src/version.js';
import { parseDicom } from '../../src/provenance/dicom-parse.js';
import { signDicom } from '../../src/provenance/sign.js';
import { verifyDicom, type VerifyPolicy } from '../../src/provenance/verify.js';
import { loadSigner, pemCertificates, type SignerCredentials } from '../../src/provenance/certificates.js';
import { createTestCa, issueCertificate } from '../../src/provenance/test-pki.js';
import { tamper, fuzz, rng, TAMPER_KINDS, FUZZ_KINDS, type TamperKind, type FuzzKind } from './mutants.js';

export const DICOM_DIR = path.join(PACKAGE_ROOT, '..', 'shared', 'data', 'dicom');

export function dicomFiles(): string[] {
  return readdirSync(DICOM_DIR)
    .filter((f) => f.endsWith('.dcm'))
    .sort()
    .map((f) => path.join(DICOM_DIR, f));
}

export interface Pki {
  caDer: Buffer;
  rsa: SignerCredentials;
  ec: SignerCredentials;
  otherCertDer: Buffer;
}

export async function makePki(): Promise<Pki> {
  const ca = await createTestCa();
  const rsa = await issueCertificate(ca, { keyType: 'rsa' });
  const ec = await issueCertificate(ca, { keyType: 'ec' });
  const other = await issueCertificate(ca, { keyType: 'rsa', subject: 'CN=another signer' });
  return {
    caDer: pemCertificates(ca.certPem)[0],
    rsa: loadSigner(rsa.keyPem, rsa.certPem),
    ec: loadSigner(ec.keyPem, ec.certPem),
    otherCertDer: pemCertificates(other.certPem)[0],
  };
}

export interface TamperCounts {
  total: number;
  inside: number;
  rejected: number;
  falseAccepts: number;
  outside: number;
  outsideReported: number;
  crashes: number;
  byKind: Record<string, { n: number; rejected: number; accepted: number }>;
  examples: string[];
}

/** Generate `n` tamper mutants across all files and kinds; every inside mutant must be rejected. */
export async function runTamper(
  n: number,
  seed: number,
  pki: Pki,
  onProgress?: (done: number) => void,
): Promise<TamperCounts> {
  const r = rng(seed);
  const files = dicomFiles();
  const signed: Buffer[] = [];
  for (let i = 0; i < files.length; i++)
    signed.push((await signDicom(readFileSync(files[i]), { signer: i % 2 ? pki.ec : pki.rsa, profile: 'base' })).bytes);
  // Signed files are checked under a policy that requires a signature: a mutant that loses its
  // signature (removed, or swallowed by a corrupted length) must not pass as "unsigned, allowed".
  const policy: VerifyPolicy = { trust: [pki.caDer], requireSignature: true };
  const c: TamperCounts = {
    total: 0,
    inside: 0,
    rejected: 0,
    falseAccepts: 0,
    outside: 0,
    outsideReported: 0,
    crashes: 0,
    byKind: {},
    examples: [],
  };
  let attempt = 0;
  while (c.total < n && attempt < n * 4) {
    attempt++;
    const fi = Math.floor(r() * signed.length);
    const kind = TAMPER_KINDS[c.total % TAMPER_KINDS.length] as TamperKind;
    const m = tamper(signed[fi], kind, r, signed[(fi + 1) % signed.length], pki.otherCertDer);
    if (!m) continue;
    c.total++;
    const k = (c.byKind[kind] ??= { n: 0, rejected: 0, accepted: 0 });
    k.n++;
    let valid = false;
    let reported = false;
    try {
      const rep = await verifyDicom(m.bytes, policy);
      valid = rep.valid;
      reported = kind === 'preamble-edit' || rep.unsignedElements.includes('(0010,4000)');
    } catch (e) {
      if (!(e instanceof MedshieldError)) {
        c.crashes++;
        c.examples.push(`${kind} on ${path.basename(files[fi])}: crash ${(e as Error).message}`);
      }
    }
    if (m.outside) {
      c.outside++;
      if (valid && reported) c.outsideReported++;
    } else {
      c.inside++;
      if (valid) {
        c.falseAccepts++;
        k.accepted++;
        if (c.examples.length < 10) c.examples.push(`${kind} on ${path.basename(files[fi])} was accepted`);
      } else {
        c.rejected++;
        k.rejected++;
      }
    }
    if (onProgress && c.total % 500 === 0) onProgress(c.total);
  }
  return c;
}

export interface FuzzCounts {
  total: number;
  valid: number;
  invalid: number;
  namedErrors: number;
  crashes: number;
  hangs: number;
  maxMs: number;
  maxRssMB: number;
  byKind: Record<string, number>;
  examples: string[];
}

/** Run `n` fuzz inputs through verify: none may crash (non-MedshieldError) or take over 1 s. */
export async function runFuzz(
  n: number,
  seed: number,
  pki: Pki,
  onProgress?: (done: number) => void,
): Promise<FuzzCounts> {
  const r = rng(seed);
  const files = dicomFiles().filter((f) => readFileSync(f).length < 300_000);
  const seeds: Array<{ bytes: Buffer; parsed: ReturnType<typeof parseDicom> }> = [];
  for (let i = 0; i < files.length; i++) {
    const bytes = (await signDicom(readFileSync(files[i]), { signer: i % 2 ? pki.ec : pki.rsa })).bytes;
    seeds.push({ bytes, parsed: parseDicom(bytes) });
  }
  const policy: VerifyPolicy = { trust: [pki.caDer] };
  const c: FuzzCounts = {
    total: 0,
    valid: 0,
    invalid: 0,
    namedErrors: 0,
    crashes: 0,
    hangs: 0,
    maxMs: 0,
    maxRssMB: 0,
    byKind: {},
    examples: [],
  };
  for (let i = 0; i < n; i++) {
    const s = seeds[Math.floor(r() * seeds.length)];
    const kind = FUZZ_KINDS[i % FUZZ_KINDS.length] as FuzzKind;
    const input = fuzz(s.bytes, s.parsed, kind, r);
    c.byKind[kind] = (c.byKind[kind] ?? 0) + 1;
    const t0 = performance.now();
    try {
      const rep = await verifyDicom(input, policy);
      if (rep.valid) c.valid++;
      else c.invalid++;
    } catch (e) {
      if (e instanceof MedshieldError) c.namedErrors++;
      else {
        c.crashes++;
        if (c.examples.length < 10)
          c.examples.push(`${kind}: ${(e as Error)?.stack?.split('\n').slice(0, 3).join(' | ')}`);
      }
    }
    const ms = performance.now() - t0;
    if (ms > c.maxMs) c.maxMs = ms;
    if (ms > 1000) c.hangs++;
    c.total++;
    if (i % 1000 === 0) c.maxRssMB = Math.max(c.maxRssMB, process.memoryUsage().rss / 1048576);
    if (onProgress && c.total % 5000 === 0) onProgress(c.total);
  }
  return c;
}
