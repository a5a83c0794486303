/**
 * DICOM signature verbs (PS3.15 Annex C digital signatures, interoperable with DCMTK's dcmsign):
 * `signDicomFiles` signs files or a folder, splicing each signature into the original bytes;
 * `verifyDicomFiles` checks files or folders under a trust policy. `medshield dicom sign|verify` call these.
 */
import { readFileSync, writeFileSync, readdirSync, statSync, mkdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { badArgument, badInput, MedshieldError, oneLine } from '../errors.js';
import {
  signDicom,
  verifyDicom,
  verifyImage,
  loadSigner,
  loadSignerPkcs12,
  pemCertificates,
  validateChain,
  timestampCoversSignature,
  type ProfileName,
  type MacAlgorithm,
  type FileReport,
} from './provenance.js';

export interface DicomSignSpec {
  /** IN.dcm OUT.dcm, or none with inDir/outDir. */
  files?: string[];
  inDir?: string;
  outDir?: string;
  key?: string;
  cert?: string;
  pkcs12?: string;
  /** PKCS #12 password (the CLI reads env MEDSHIELD_P12_PASSWORD). */
  pkcs12Password?: string;
  /** CA certificates the signer certificate must chain to (checked before signing). */
  chain?: string;
  profile?: ProfileName;
  algorithm?: 'sha256' | 'sha384' | 'sha512';
  /** RFC 3161 token to embed; must cover the new signature. */
  timestamp?: string;
  /** Sign a sequence item instead of the main data set, e.g. "(0008,1140)[0]". */
  item?: string;
}

export interface DicomSignResult {
  file: string;
  out: string;
  uid: string;
  profile: ProfileName;
  algorithm: string;
  signer: string;
  coversPixelData: boolean;
  covered: number;
  sha256: string;
}

export interface DicomVerifySpec {
  paths: string[];
  trust?: string[];
  chain?: string[];
  requireSignature?: boolean;
  requireProfile?: ProfileName;
  requirePixelCoverage?: boolean;
  /** key-MAC pairs such as ECDSA-SHA256 (default: the provenance defaults). */
  allowAlgorithms?: string[];
}

export interface DicomVerifyResult {
  results: Array<Record<string, unknown>>;
  /** 0 all valid under the policy, 1 any invalid, 2 any file unreadable. */
  exitCode: 0 | 1 | 2;
}

function listFiles(p: string): string[] {
  const st = statSync(p);
  if (!st.isDirectory()) return [p];
  return readdirSync(p)
    .sort()
    .flatMap((n) => listFiles(path.join(p, n)));
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** The (input, output) file pairs of a sign spec. */
export function dicomSignPairs(spec: DicomSignSpec): Array<[string, string]> {
  const files = spec.files ?? [];
  if (spec.inDir || spec.outDir) {
    if (!spec.inDir || !spec.outDir) throw badArgument('--in-dir and --out-dir go together');
    if (files.length) throw badArgument('give either --in-dir/--out-dir or IN.dcm OUT.dcm, not both');
    const { inDir, outDir } = spec;
    return listFiles(inDir).map((f) => [f, path.join(outDir, path.relative(inDir, f))]);
  }
  if (files.length !== 2) throw badArgument('dicom sign needs IN.dcm OUT.dcm (or --in-dir/--out-dir)');
  return [[files[0], files[1]]];
}

export async function signDicomFiles(spec: DicomSignSpec, onFile?: (file: string) => void): Promise<DicomSignResult[]> {
  let signer;
  if (spec.pkcs12) {
    if (spec.key || spec.cert) throw badArgument('give either --pkcs12 or --key/--cert, not both');
    signer = await loadSignerPkcs12(readFileSync(spec.pkcs12), spec.pkcs12Password ?? '');
  } else {
    if (!spec.key || !spec.cert) throw badArgument('dicom sign needs --key and --cert (or --pkcs12)');
    signer = loadSigner(readFileSync(spec.key), readFileSync(spec.cert));
  }
  if (spec.chain) {
    const chain = pemCertificates(readFileSync(spec.chain, 'utf8'), '--chain file');
    const res = await validateChain(signer.certDer, chain, [], new Date());
    if (!res.trusted) throw badInput(`signer certificate does not chain to --chain: ${res.reason}`);
  }
  const token = spec.timestamp ? readFileSync(spec.timestamp) : undefined;
  const mac = (spec.algorithm ?? 'sha256').toUpperCase() as MacAlgorithm;
  const profile = spec.profile ?? 'base';
  const out: DicomSignResult[] = [];
  for (const [inF, outF] of dicomSignPairs(spec)) {
    const timestamp = token
      ? (sig: Buffer) => {
          if (!timestampCoversSignature(token, sig)) {
            throw badInput(
              `--timestamp ${spec.timestamp} does not cover this signature (an RFC ` +
                `3161 token must be requested for the signature bytes after signing)`,
            );
          }
          return token;
        }
      : undefined;
    const r = await signDicom(readFileSync(inF), { signer, profile, mac, item: spec.item, timestamp }).catch((e) => {
      throw e instanceof MedshieldError ? new MedshieldError(e.code, `${inF}: ${e.message}`) : e;
    });
    mkdirSync(path.dirname(path.resolve(outF)), { recursive: true });
    writeFileSync(outF, r.bytes);
    out.push({
      file: inF,
      out: outF,
      uid: r.uid,
      profile,
      algorithm: `${signer.keyAlgorithm}-${mac}`,
      signer: signer.cert.subject.split('\n').join(', '),
      coversPixelData: r.coversPixelData,
      covered: r.covered.length,
      sha256: sha(r.bytes),
    });
    onFile?.(inF);
  }
  return out;
}

/**
 * Verify every file under `paths` with `check`; a file that cannot be read is a row with `error` (or, alone, throws).
 */
async function verifyEach(
  paths: string[],
  check: (bytes: Buffer, file: string) => Promise<Record<string, unknown> & { valid: boolean }>,
  opts: { requireFiles?: boolean } = {},
): Promise<DicomVerifyResult> {
  for (const p of paths) if (!existsSync(p)) throw badInput(`no such file or folder: ${p}`);
  const files = paths.flatMap(listFiles);
  if (opts.requireFiles && !files.length) throw badArgument('no files to verify');
  const results: Array<Record<string, unknown>> = [];
  let anyInvalid = false;
  let anyBad = false;
  for (const f of files) {
    try {
      const row = await check(readFileSync(f), f);
      if (!row.valid) anyInvalid = true;
      results.push({ file: f, ...row });
    } catch (e) {
      if (files.length === 1) throw e;
      anyBad = true;
      results.push({ file: f, signed: false, valid: false, error: oneLine(e), signatures: [] });
    }
  }
  return { results, exitCode: anyBad ? 2 : anyInvalid ? 1 : 0 };
}

/** One signature of a report as the CLIs print it. */
function signatureRow(s: FileReport['signatures'][number]): Record<string, unknown> {
  return {
    uid: s.uid,
    profile: s.profile,
    algorithm: s.algorithm,
    signer: s.signer,
    time: s.time,
    coversPixelData: s.coversPixelData,
    valid: s.valid,
    reason: s.reason,
    location: s.location,
  };
}

export async function verifyDicomFiles(spec: DicomVerifySpec): Promise<DicomVerifyResult> {
  const trust = (spec.trust ?? []).flatMap((f) => pemCertificates(readFileSync(f, 'utf8'), `--trust ${f}`));
  const intermediates = (spec.chain ?? []).flatMap((f) => pemCertificates(readFileSync(f, 'utf8'), `--chain ${f}`));
  const policy = {
    trust,
    intermediates,
    requireSignature: !!spec.requireSignature,
    requireProfile: spec.requireProfile,
    requirePixelCoverage: spec.requirePixelCoverage ?? true,
    allowedAlgorithms: spec.allowAlgorithms?.map((s) => s.trim().toUpperCase()),
  };
  return verifyEach(spec.paths, async (bytes) => {
    const rep = await verifyDicom(bytes, policy);
    return {
      signed: rep.signed,
      valid: rep.valid,
      reason: rep.reason,
      unsignedElements: rep.unsignedElements,
      signatures: rep.signatures.map((s) => ({
        ...signatureRow(s),
        coveredElements: s.covered.length,
        ...(s.timestamp ? { timestamp: s.timestamp } : {}),
      })),
    };
  });
}

export interface ImageVerifySpec {
  paths: string[];
  trust?: string[];
  requireSignature?: boolean;
  allowAlgorithms?: string[];
}

/**
 * `medshield verify`: signed PNG/JPEG images under a policy (src/provenance/image-signature.ts), or an evidence
 * bundle (.zip) against its signed manifest (src/api/evidence.ts).
 */
export async function verifyImageFiles(spec: ImageVerifySpec): Promise<DicomVerifyResult> {
  const trust = (spec.trust ?? []).flatMap((f) => pemCertificates(readFileSync(f, 'utf8'), `--trust ${f}`));
  const policy = {
    trust,
    requireSignature: !!spec.requireSignature,
    allowedAlgorithms: spec.allowAlgorithms?.map((s) => s.trim().toUpperCase()),
  };
  return verifyEach(
    spec.paths,
    async (bytes) => {
      if (bytes.subarray(0, 4).equals(Buffer.from('PK\x03\x04', 'latin1'))) {
        const ev = await (await import('./evidence.js')).verifyEvidence(bytes, trust);
        const { valid, reason, signer, campaign, files } = ev;
        return { bundle: true, valid, reason, signer, campaign, files };
      }
      const rep = await verifyImage(bytes, policy);
      return { signed: rep.signed, valid: rep.valid, reason: rep.reason, signatures: rep.signatures.map(signatureRow) };
    },
    { requireFiles: true },
  );
}

/** The text lines of signed files (`medshield dicom sign`). */
export function dicomSignText(out: DicomSignResult[]): string {
  return out
    .map(
      (x) =>
        `${x.file} → ${x.out}: signature ${x.uid}, ${x.covered} ` +
        `elements${x.coversPixelData ? ' incl. pixel data' : ''}\n`,
    )
    .join('');
}

/** The text lines of verified files (`medshield verify`), with a line per signature when `signatures`. */
export function verifyText(results: DicomVerifyResult['results'], signatures = false): string {
  let text = '';
  for (const r of results) {
    text += `${r.file}: ${r.error ? 'error: ' + r.error : (r.valid ? 'VALID' : 'INVALID') + ' — ' + r.reason}\n`;
    if (signatures)
      for (const s of r.signatures as Array<Record<string, unknown>>)
        text +=
          `  ${s.valid ? 'ok ' : 'BAD'} ${s.uid} ${s.algorithm} ${s.profile} ` +
          `by "${s.signer}" at ${s.time}` +
          `${s.coversPixelData ? ', covers pixel data' : ', pixel data NOT covered'}` +
          `${s.valid ? '' : ': ' + s.reason}\n`;
  }
  return text;
}
