/**
 * Verify DICOM digital signatures (PS3.15 Annex C, PS3.3 C.12.1.1.3.1): for every Digital Signatures
 * Sequence item — in the main data set and in any sequence item — find the MAC Parameters item with the
 * same MAC ID, recompute the MAC over the listed Data Elements Signed in the MAC Calculation Transfer
 * Syntax (mac-encoding.ts), verify the signature with the signer certificate's public key (node crypto),
 * validate the certificate chain and validity period (certificates.ts), check an RFC 3161 timestamp when
 * present (timestamp.ts), and apply a policy (required signature, profile, pixel coverage, algorithms).
 *
 * Under a strict policy (requireSignature or requireProfile) bytes that no signature covers must not be
 * able to change the pixels (issue 20): every pixel-affecting element present (data/dicom.ts
 * PIXEL_AFFECTING_TAGS, the only attributes the decoder may read) must be covered by a valid main data
 * set signature, and the file must have none of the ambiguities data/dicom-parse.ts `ambiguities()`
 * names (non-zero preamble / polyglot, groups 0000–0007 in the data set, data after the signatures,
 * meta group length or transfer syntax that disagree with the bytes). See docs/provenance.md.
 */
import { createVerify } from 'node:crypto';
import { badInput } from '../errors.js';
import {
  parseDicom,
  findElement,
  stringValue,
  usValue,
  atValues,
  valueBytes,
  tagStr,
  ambiguities,
  PIXEL_DATA,
  type DicomElement,
  type ParsedDicom,
} from '../data/dicom-parse.js';
import { isPixelAffecting, PIXEL_AFFECTING_TAGS } from '../data/dicom-pixel-tags.js';
import { MacWriter, isSignable, sortedByTag, writeSignatureFormat } from './mac-encoding.js';
import { transferSyntax } from './transfer-syntax.js';
import { MAC_ALGORITHMS, PROFILES, missingForProfile, type MacAlgorithm, type ProfileName } from './profiles.js';
import {
  parseCertificate,
  keyAlgorithmOf,
  subjectOf,
  validateChain,
  signerCertificateProblem,
  type KeyAlgorithm,
} from './certificates.js';
import { checkTimestampToken } from './timestamp.js';
import { TAG, NOT_IN_MAC } from './sign.js';
import { inflatedView } from './deflate.js';

export interface VerifyPolicy {
  /** DER certificates of trusted CAs. Without any, no signature is trusted. */
  trust: Uint8Array[];
  /** Untrusted intermediate CA certificates (DER). */
  intermediates?: Uint8Array[];
  requireSignature?: boolean;
  requireProfile?: ProfileName;
  /** A valid main-data-set signature must cover Pixel Data (7FE0,0010) when present. Default true. */
  requirePixelCoverage?: boolean;
  /** e.g. ['RSA-SHA256', 'ECDSA-SHA384']. Default: RSA/ECDSA with RIPEMD160, SHA256, SHA384, SHA512. */
  allowedAlgorithms?: string[];
  /** Time at which certificates must be valid (default now; a valid certified timestamp overrides it). */
  at?: Date;
}

export const DEFAULT_ALGORITHMS = ['RSA', 'ECDSA'].flatMap((k) =>
  ['RIPEMD160', 'SHA256', 'SHA384', 'SHA512'].map((m) => `${k}-${m}`),
);

export interface SignatureReport {
  uid: string;
  /** Strongest PS3.15 profile whose coverage rules the signature meets (creator, authorization, base) or 'none'. */
  profile: ProfileName | 'none';
  algorithm: string;
  signer: string;
  time: string | null;
  coversPixelData: boolean;
  valid: boolean;
  reason: string;
  /** 'dataset' or the path of the sequence item holding the signature, e.g. '(0040,A730)[0]'. */
  location: string;
  macId: number | null;
  macTransferSyntax: string | null;
  covered: string[];
  timestamp?: { valid: boolean; time?: string; reason?: string };
}

export interface FileReport {
  signed: boolean;
  valid: boolean;
  reason: string;
  signatures: SignatureReport[];
  /** Signable main-data-set elements not covered by any valid signature (changes there go undetected). */
  unsignedElements: string[];
  /** Top-level tags covered by a valid main data set signature (DICOM only). */
  signedTags?: number[];
}

const PIXEL_NAMES = new Map(PIXEL_AFFECTING_TAGS);
const describeTag = (t: number): string => `${tagStr(t)}${PIXEL_NAMES.has(t) ? ' ' + PIXEL_NAMES.get(t) : ''}`;

/** A strict policy: a signature is required, so unsigned bytes must not be able to change the pixels. */
export const isStrict = (policy: VerifyPolicy): boolean => !!(policy.requireSignature || policy.requireProfile);

/**
 * The first tag of `used` (top-level tags a decoded image depends on) that no valid main data set
 * signature covers, described in words; undefined when all are signed.
 */
export function unsignedPixelDependency(report: FileReport, used: Iterable<number>): string | undefined {
  const signed = new Set(report.signedTags ?? []);
  for (const t of used)
    if (!signed.has(t)) return `the decoded image depends on ${describeTag(t)}, which no valid signature covers`;
  return undefined;
}

interface Container {
  elements: DicomElement[];
  location: string;
}

function containers(p: ParsedDicom): Container[] {
  const out: Container[] = [];
  const walk = (elements: DicomElement[], location: string, depth: number): void => {
    if (findElement(elements, TAG.DigitalSignaturesSequence)) out.push({ elements, location });
    if (depth > 32) return;
    for (const e of elements)
      e.items?.forEach((it, i) =>
        walk(it.elements, `${location === 'dataset' ? '' : location + '.'}${tagStr(e.tag)}[${i}]`, depth + 1),
      );
  };
  walk(p.dataset, 'dataset', 0);
  return out;
}

/** DER ECDSA signatures may carry one 00 pad byte to even length (DCMTK adjustASN1SequenceLength). */
function stripDerPad(sig: Uint8Array): Uint8Array {
  if (sig.length < 2 || sig[0] !== 0x30) return sig;
  let len = sig[1];
  let hdr = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n < 1 || n > 2 || sig.length < 2 + n) return sig;
    len = 0;
    for (let i = 0; i < n; i++) len = (len << 8) | sig[2 + i];
    hdr += n;
  }
  const end = hdr + len;
  if (end === sig.length) return sig;
  // Exactly one 00 pad byte may follow; anything else is an unsigned change to the Signature value.
  if (end + 1 === sig.length && sig[end] === 0) return sig.subarray(0, end);
  return sig;
}

function satisfiedProfile(present: number[], covered: Set<number>, location: string): ProfileName | 'none' {
  if (location === 'dataset') {
    if (missingForProfile(PROFILES.creator, present, covered) === undefined) return 'creator';
    if (missingForProfile(PROFILES.authorization, present, covered) === undefined) return 'authorization';
  }
  return covered.size ? 'base' : 'none';
}

async function verifyOne(
  p: ParsedDicom,
  c: Container,
  item: DicomElement[],
  policy: VerifyPolicy,
): Promise<SignatureReport> {
  const uid = stringValue(p, findElement(item, TAG.DigitalSignatureUID)) ?? '';
  const timeStr = stringValue(p, findElement(item, TAG.DigitalSignatureDateTime)) ?? null;
  const macId = usValue(p, findElement(item, TAG.MACIDNumber)) ?? null;
  const r: SignatureReport = {
    uid,
    profile: 'none',
    algorithm: 'unknown',
    signer: '',
    time: timeStr,
    coversPixelData: false,
    valid: false,
    reason: '',
    location: c.location,
    macId,
    macTransferSyntax: null,
    covered: [],
  };
  const fail = (reason: string): SignatureReport => {
    r.reason = reason;
    return r;
  };
  const certEl = findElement(item, TAG.CertificateOfSigner);
  const sigEl = findElement(item, TAG.Signature);
  if (!certEl || !sigEl) return fail('signature item lacks Certificate of Signer or Signature');
  const certType = stringValue(p, findElement(item, TAG.CertificateType));
  if (certType !== 'X509_1993_SIG') return fail(`unsupported Certificate Type ${JSON.stringify(certType)}`);
  let cert;
  try {
    cert = parseCertificate(valueBytes(p, certEl), 'Certificate of Signer');
  } catch (e) {
    return fail((e as Error).message);
  }
  r.signer = subjectOf(cert);
  let keyAlg: KeyAlgorithm;
  try {
    keyAlg = keyAlgorithmOf(cert.publicKey);
  } catch (e) {
    return fail((e as Error).message);
  }
  if (macId === null) return fail('signature item has no MAC ID Number');
  const macSeq = findElement(c.elements, TAG.MACParametersSequence);
  const macItem = macSeq?.items?.find((it) => usValue(p, findElement(it.elements, TAG.MACIDNumber)) === macId);
  if (!macItem) return fail(`no MAC Parameters item with MAC ID ${macId}`);
  const macAlg = stringValue(p, findElement(macItem.elements, TAG.MACAlgorithm)) as MacAlgorithm | undefined;
  if (!macAlg || !MAC_ALGORITHMS[macAlg]) return fail(`unsupported MAC Algorithm ${JSON.stringify(macAlg)}`);
  r.algorithm = `${keyAlg}-${macAlg}`;
  const tsUid = stringValue(p, findElement(macItem.elements, TAG.MACCalculationTransferSyntaxUID)) ?? '';
  r.macTransferSyntax = tsUid;
  let macTs;
  try {
    macTs = transferSyntax(tsUid);
  } catch {
    return fail(`unknown MAC Calculation Transfer Syntax ${JSON.stringify(tsUid)}`);
  }
  // A deflated MAC syntax (dcmsign's choice for deflated files) is the Explicit VR LE stream: deflate only compresses
  // the file.
  if (macTs.deflated && macTs.uid !== '1.2.840.10008.1.2.1.99')
    return fail('deflated MAC Calculation Transfer Syntax is not supported');
  // The file meta information is never signed, so the transfer syntax that says how to read the pixel data
  // must agree with the signed one: an encapsulated MAC syntax must be the file's own (else a signed RLE/JPEG
  // data set could be relabelled, or native pixels reinterpreted), and a native file cannot carry one.
  if ((macTs.encapsulated || p.ts.encapsulated) && macTs.uid !== p.ts.uid)
    return fail(`MAC Calculation Transfer Syntax ${macTs.uid} does not match the file's transfer syntax ${p.ts.uid}`);
  const listed = atValues(p, findElement(macItem.elements, TAG.DataElementsSigned));
  if (!listed.length) return fail('Data Elements Signed is empty');
  const listedSet = new Set(listed);
  r.covered = listed.map(tagStr);
  r.coversPixelData = listedSet.has(PIXEL_DATA);
  r.profile = satisfiedProfile(
    c.elements.filter(isSignable).map((e) => e.tag),
    listedSet,
    c.location,
  );

  // Recompute the MAC and verify the signature.
  const verifier = createVerify(MAC_ALGORITHMS[macAlg]);
  const w = new MacWriter(verifier, macTs.littleEndian, macTs.explicitVR);
  const present = new Set<number>();
  for (const el of sortedByTag(c.elements)) {
    if (!listedSet.has(el.tag)) continue;
    if (!isSignable(el)) return fail(`signature covers unsignable element ${tagStr(el.tag)}`);
    present.add(el.tag);
    writeSignatureFormat(p.bytes, el, w, c.elements);
  }
  for (const el of sortedByTag(item))
    if (!NOT_IN_MAC.has(el.tag) && isSignable(el)) writeSignatureFormat(p.bytes, el, w, item);
  w.flush();
  const sig = valueBytes(p, sigEl);
  const sigBytes = keyAlg === 'ECDSA' ? stripDerPad(sig) : sig;
  let ok = false;
  try {
    ok = verifier.verify(cert.publicKey, sigBytes);
  } catch {
    ok = false;
  }
  const absent = listed.find((t) => !present.has(t));
  if (!ok)
    return fail(
      absent !== undefined
        ? `signed element ${tagStr(absent)} is missing`
        : 'signature does not match the signed data (MAC mismatch or wrong key)',
    );
  if (absent !== undefined) return fail(`signed element ${tagStr(absent)} is missing`);

  // Algorithm policy.
  const allowed = policy.allowedAlgorithms ?? DEFAULT_ALGORITHMS;
  if (!allowed.includes(r.algorithm)) return fail(`algorithm ${r.algorithm} is not allowed by the policy`);

  // Timestamp, then certificate chain at the timestamp time (or now).
  let at = policy.at ?? new Date();
  const tsEl = findElement(item, TAG.CertifiedTimestamp);
  if (tsEl && tsEl.length > 0) {
    const type = stringValue(p, findElement(item, TAG.CertifiedTimestampType));
    const t =
      type === 'CMS_TSP'
        ? await checkTimestampToken(valueBytes(p, tsEl), sigBytes, policy.trust, policy.intermediates ?? [])
        : { valid: false, reason: `unsupported Certified Timestamp Type ${JSON.stringify(type)}` };
    r.timestamp = { valid: t.valid, time: t.time?.toISOString(), reason: t.reason };
    if (!t.valid) return fail(t.reason ?? 'certified timestamp invalid');
    at = t.time!;
  }
  const signedAt = parseDicomDateTime(timeStr);
  if (signedAt && signedAt.getTime() + 1000 < new Date(cert.validFrom).getTime())
    return fail(
      `signature time ${timeStr} is before the certificate's notBefore ${new Date(cert.validFrom).toISOString()}`,
    );
  const chain = await validateChain(cert.raw, policy.trust, policy.intermediates ?? [], at);
  if (!chain.trusted) return fail(chain.reason ?? 'certificate not trusted');
  const usage = signerCertificateProblem(cert.raw);
  if (usage) return fail(usage);
  r.valid = true;
  r.reason = 'ok';
  return r;
}

/** DICOM DT → Date (UTC offset honoured; missing offset read as UTC). */
export function parseDicomDateTime(s: string | null): Date | null {
  if (!s) return null;
  const m = /^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,6}))?([+-]\d{4})?$/.exec(s.trim());
  if (!m) return null;
  const [, y, mo = '01', d = '01', h = '00', mi = '00', se = '00', frac = '0', tz] = m;
  const ms = Date.UTC(+y, +mo - 1, +d, +h, +mi, +se, Math.floor(Number('0.' + frac) * 1000));
  const off = tz ? (tz[0] === '-' ? -1 : 1) * (Number(tz.slice(1, 3)) * 60 + Number(tz.slice(3, 5))) : 0;
  return new Date(ms - off * 60000);
}

/** Verify every signature in a DICOM file and apply the policy. Throws BAD_INPUT for unparseable files. */
export async function verifyDicom(input: Uint8Array, policy: VerifyPolicy): Promise<FileReport> {
  return verifyParsed(parseDicom(inflatedView(input)), policy);
}

/** Verify an already parsed file (the gateway parses once, verifies, then decodes the same parse). */
export async function verifyParsed(p: ParsedDicom, policy: VerifyPolicy): Promise<FileReport> {
  if (p.inflated) throw badInput('deflated data sets cannot be signed or verified byte-exactly');
  const signatures: SignatureReport[] = [];
  for (const c of containers(p)) {
    const seq = findElement(c.elements, TAG.DigitalSignaturesSequence)!;
    if (!seq.items) throw badInput('Digital Signatures Sequence (FFFA,FFFA) is not a sequence');
    for (const it of seq.items) signatures.push(await verifyOne(p, c, it.elements, policy));
  }
  const main = signatures.filter((s) => s.location === 'dataset' && s.valid);
  const coveredMain = new Set(main.flatMap((s) => s.covered));
  const unsignedElements = sortedByTag(p.dataset)
    .filter((e) => isSignable(e) && !coveredMain.has(tagStr(e.tag)))
    .map((e) => tagStr(e.tag));
  const signedTags = p.dataset.filter((e) => coveredMain.has(tagStr(e.tag))).map((e) => e.tag);
  const report: FileReport = {
    signed: signatures.length > 0,
    valid: true,
    reason: 'ok',
    signatures,
    unsignedElements,
    signedTags,
  };
  const bad = signatures.find((s) => !s.valid);
  const hasPixels = !!findElement(p.dataset, PIXEL_DATA);
  if (!signatures.length) {
    report.valid = !policy.requireSignature && !policy.requireProfile;
    report.reason = report.valid ? 'unsigned (allowed by policy)' : 'unsigned: the policy requires a signature';
  } else if (bad) {
    report.valid = false;
    report.reason = `signature ${bad.uid || '?'} invalid: ${bad.reason}`;
  } else if (
    policy.requireProfile &&
    !main.some(
      (s) =>
        s.profile === policy.requireProfile ||
        (policy.requireProfile === 'base' && s.profile !== 'none') ||
        (policy.requireProfile === 'authorization' &&
          missingForProfile(
            PROFILES.authorization,
            p.dataset.filter(isSignable).map((e) => e.tag),
            new Set(s.covered.map(parseTagStr)),
          ) === undefined),
    )
  ) {
    report.valid = false;
    report.reason = `no valid main data set signature meets the ${policy.requireProfile} profile`;
  } else if ((policy.requirePixelCoverage ?? true) && hasPixels && !main.some((s) => s.coversPixelData)) {
    report.valid = false;
    report.reason = 'no valid main data set signature covers the pixel data (7FE0,0010)';
  }
  if (report.valid && isStrict(policy)) {
    // Strict: nothing unsigned may change the pixels, and nothing may be read two ways.
    const amb = ambiguities(p);
    const unsignedPixel = p.dataset.find((e) => isPixelAffecting(e.tag) && !coveredMain.has(tagStr(e.tag)));
    if (unsignedPixel) {
      report.valid = false;
      report.reason =
        `refused: pixel-affecting element ${describeTag(unsignedPixel.tag)}` + ` is not covered by a valid signature`;
    } else if (amb) {
      report.valid = false;
      report.reason = `refused: ${amb}`;
    }
  }
  return report;
}

function parseTagStr(s: string): number {
  return parseInt(s.slice(1, 5) + s.slice(6, 10), 16) >>> 0;
}
