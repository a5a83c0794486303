/**
 * Create a DICOM digital signature (PS3.15 Annex C, PS3.3 C.12.1.1.3) and SPLICE it into the
 * original bytes: the Digital Signatures Sequence (FFFA,FFFA) and MAC Parameters Sequence (4FFE,0001)
 * are inserted at their sorted positions (or an item is appended to existing ones); every other byte of
 * the file is kept, including the file meta information and the preamble (DCMTK rewrites the meta
 * information when it signs; medshield does not).
 *
 * The MAC covers, in ascending tag order, every signable element of the signed item, encoded in the MAC
 * Calculation Transfer Syntax (mac-encoding.ts), followed by the Digital Signatures Sequence item's
 * MAC ID Number, Digital Signature UID, Digital Signature DateTime and Certificate Type (not the
 * certificate, signature or timestamp), as in DCMTK's SiMACConstructor::encodeDigitalSignatureItem.
 * The signature is RSASSA-PKCS1-v1_5 or ECDSA (DER, padded with one 00 byte to even length) over the MAC.
 */
import { createSign, randomBytes } from 'node:crypto';
import { badArgument, badInput, unsupported } from '../errors.js';
import {
  parseDicom,
  findElement,
  usValue,
  tagStr,
  UNDEFINED,
  PIXEL_DATA,
  ITEM,
  SEQ_DELIM,
  type DicomElement,
  type DicomItem,
  type ParsedDicom,
} from './dicom-parse.js';
import { MacWriter, isSignable, sortedByTag, writeSignatureFormat } from './mac-encoding.js';
import {
  encodeAT,
  encodeElement,
  encodeItem,
  encodeSequence,
  encodeString,
  encodeUS,
  writeU32,
  type Encoding,
} from './dicom-encode.js';
import { macTransferSyntaxFor } from './transfer-syntax.js';
import { splitDeflated, joinDeflated, EXPLICIT_PREFIX } from './deflate.js';
import { MAC_ALGORITHMS, PROFILES, missingForProfile, type MacAlgorithm, type ProfileName } from './profiles.js';
import { signerCertificateProblem, type SignerCredentials } from './certificates.js';

export const TAG = {
  MACParametersSequence: 0x4ffe0001,
  DigitalSignaturesSequence: 0xfffafffa,
  MACIDNumber: 0x04000005,
  MACCalculationTransferSyntaxUID: 0x04000010,
  MACAlgorithm: 0x04000015,
  DataElementsSigned: 0x04000020,
  DigitalSignatureUID: 0x04000100,
  DigitalSignatureDateTime: 0x04000105,
  CertificateType: 0x04000110,
  CertificateOfSigner: 0x04000115,
  Signature: 0x04000120,
  CertifiedTimestampType: 0x04000305,
  CertifiedTimestamp: 0x04000310,
  DigitalSignaturePurposeCodeSequence: 0x04000401,
} as const;

/** Signature item attributes that are NOT fed to the MAC (DCMTK encodeDigitalSignatureItem). */
export const NOT_IN_MAC = new Set<number>([
  TAG.CertificateOfSigner,
  TAG.Signature,
  TAG.CertifiedTimestampType,
  TAG.CertifiedTimestamp,
]);

export interface SignOptions {
  signer: SignerCredentials;
  profile?: ProfileName;
  mac?: MacAlgorithm;
  /** RFC 3161 time-stamp token provider: given the signature bytes, returns a DER TimeStampToken. */
  timestamp?: (signature: Buffer) => Buffer | Promise<Buffer>;
  /** Signing time (default now). */
  now?: Date;
  /** Signature UID (default a fresh 2.25 UUID-derived UID). */
  uid?: string;
  /**
   * Sign a sequence item instead of the main data set: a path like "(0008,1140)[0]" or "(0040,A730)[1].(0008,1199)[0]".
   */
  item?: string;
  /**
   * Digital Signature Purpose Code Sequence (0400,0401) item, e.g. {value: '1', scheme: 'ASTM-sigpurpose', meaning:
   * "Author's Signature"} (PS3.15 C.4/C.5 SR profile requires one). Covered by the MAC like DCMTK's
   * encodeDigitalSignatureItem.
   */
  purpose?: { value: string; scheme: string; meaning: string };
}

export interface SignResult {
  bytes: Buffer;
  uid: string;
  macId: number;
  covered: number[];
  coversPixelData: boolean;
}

/** PS3.5 §9.2.1: a UID derived from a random 128-bit number under the 2.25 root. */
export function newUid(): string {
  return '2.25.' + BigInt('0x' + randomBytes(16).toString('hex')).toString();
}

/** DICOM DT (PS3.5 Table 6.2-1) with microseconds and UTC offset, as DCMTK writes it. */
export function dicomDateTime(d: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return (
    `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}` +
    `${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}.${p(d.getUTCMilliseconds() * 1000, 6)}+0000`
  );
}

interface Splice {
  at: number;
  remove: number;
  insert: Buffer;
}

function applySplices(bytes: Uint8Array, splices: Splice[]): Buffer {
  const sorted = [...splices].sort((a, b) => a.at - b.at);
  const parts: Uint8Array[] = [];
  let pos = 0;
  for (const s of sorted) {
    parts.push(bytes.subarray(pos, s.at), s.insert);
    pos = s.at + s.remove;
  }
  parts.push(bytes.subarray(pos));
  return Buffer.concat(parts);
}

/** Where a new top-level element with `tag` goes: before the first element with a larger tag. */
function insertionOffset(elements: DicomElement[], tag: number, end: number): number {
  for (const e of elements) if (e.tag > tag) return e.start;
  return end;
}

/** Append an item to an existing sequence, or insert a new one-item sequence. */
function addItem(
  p: ParsedDicom,
  elements: DicomElement[],
  containerEnd: number,
  seqTag: number,
  item: Buffer,
  enc: Encoding,
  splices: Splice[],
): number {
  const seq = findElement(elements, seqTag);
  if (!seq) {
    const bytes = encodeSequence(seqTag, [item], enc);
    splices.push({ at: insertionOffset(elements, seqTag, containerEnd), remove: 0, insert: bytes });
    return bytes.length;
  }
  if (!seq.items) throw badInput(`${tagStr(seqTag)} is present but is not a sequence`);
  if (seq.length === UNDEFINED) {
    splices.push({ at: seq.end - 8, remove: 0, insert: item });
  } else {
    const lenOff = seq.valueOffset - 4;
    const hdr = Buffer.from(p.bytes.subarray(lenOff, lenOff + 4));
    writeU32(hdr, 0, seq.length + item.length, enc.littleEndian);
    splices.push({ at: lenOff, remove: 4, insert: hdr });
    splices.push({ at: seq.end, remove: 0, insert: item });
  }
  return item.length;
}

interface Target {
  elements: DicomElement[];
  end: number;
  ancestors: Array<{ seq: DicomElement; item: DicomItem }>;
}

/** Resolve an item path (dcmsign --sign-item style, tags only) to the item's elements and its ancestors. */
export function resolveItem(p: ParsedDicom, itemPath: string | undefined): Target {
  if (!itemPath) return { elements: p.dataset, end: p.bytes.length, ancestors: [] };
  let elements = p.dataset;
  const ancestors: Target['ancestors'] = [];
  for (const seg of itemPath.split('.')) {
    const m = /^\(?([0-9A-Fa-f]{4}),?([0-9A-Fa-f]{4})\)?\[(\d+)\]$/.exec(seg.trim());
    if (!m) throw badArgument(`bad item path segment ${JSON.stringify(seg)}: use (gggg,eeee)[index], joined by '.'`);
    const tag = parseInt(m[1] + m[2], 16) >>> 0;
    const seq = findElement(elements, tag);
    if (!seq?.items)
      throw badInput(`item path: ${tagStr(tag)} is not a sequence in the ${ancestors.length ? 'item' : 'data set'}`);
    const item = seq.items[Number(m[3])];
    if (!item) throw badInput(`item path: ${tagStr(tag)} has ${seq.items.length} items, no item ${m[3]}`);
    ancestors.push({ seq, item });
    elements = item.elements;
  }
  const last = ancestors[ancestors.length - 1].item;
  return { elements, end: last.length === UNDEFINED ? last.end - 8 : last.valueOffset + last.length, ancestors };
}

/** Grow the defined lengths of every enclosing item and sequence by `delta` bytes. */
function fixAncestorLengths(_p: ParsedDicom, t: Target, delta: number, le: boolean, splices: Splice[]): void {
  for (const { seq, item } of t.ancestors) {
    if (item.length !== UNDEFINED) {
      const b = Buffer.alloc(4);
      writeU32(b, 0, item.length + delta, le);
      splices.push({ at: item.start + 4, remove: 4, insert: b });
    }
    if (seq.length !== UNDEFINED) {
      const b = Buffer.alloc(4);
      writeU32(b, 0, seq.length + delta, le);
      splices.push({ at: seq.valueOffset - 4, remove: 4, insert: b });
    }
  }
}

/** Used MAC ID numbers in an item's MAC Parameters Sequence; the new one is the smallest free (DCMTK allocateMACID). */
function freeMacId(p: ParsedDicom, elements: DicomElement[]): number {
  const seq = findElement(elements, TAG.MACParametersSequence);
  const used = new Set<number>();
  for (const it of seq?.items ?? []) {
    const v = usValue(p, findElement(it.elements, TAG.MACIDNumber));
    if (v !== undefined) used.add(v);
  }
  for (let i = 0; i < 65536; i++) if (!used.has(i)) return i;
  throw badInput('no free MAC ID number (65536 signatures?)');
}

/**
 * Sign the main data set of a DICOM file (Part 10 or raw data set), or one sequence item (`opts.item`).
 * Returns the new file bytes: the original with the signature sequences spliced in, plus, for an item,
 * the defined lengths of the enclosing items and sequences grown by the inserted bytes.
 */
export async function signDicom(input: Uint8Array, opts: SignOptions): Promise<SignResult> {
  // Deflated Explicit VR Little Endian: sign the inflated data set, deflate it again behind the unchanged meta
  // information.
  const deflated = splitDeflated(input);
  if (deflated) {
    const r = await signDicom(Buffer.concat([EXPLICIT_PREFIX, deflated.dataset]), opts);
    return { ...r, bytes: joinDeflated(deflated.head, r.bytes.subarray(EXPLICIT_PREFIX.length)) };
  }
  const p = parseDicom(input);
  const profileName = opts.profile ?? 'base';
  const profile = PROFILES[profileName];
  if (!profile) throw badArgument(`unknown profile '${profileName}' (base, creator, authorization)`);
  const mac = opts.mac ?? 'SHA256';
  if (!MAC_ALGORITHMS[mac]) throw badArgument(`unknown MAC algorithm '${mac}'`);
  if (!profile.allowedMacs.includes(mac)) throw badArgument(`the ${profileName} profile does not allow MAC ${mac}`);
  const enc: Encoding = { explicitVR: p.ts.explicitVR, littleEndian: p.ts.littleEndian };
  const macTs = macTransferSyntaxFor(p.ts);
  const now = opts.now ?? new Date();
  const { cert } = opts.signer;
  if (now < new Date(cert.validFrom))
    throw badInput(`signer certificate is not valid before ${new Date(cert.validFrom).toISOString()}`);
  if (now > new Date(cert.validTo))
    throw badInput(`signer certificate expired ${new Date(cert.validTo).toISOString()}`);
  const usage = signerCertificateProblem(opts.signer.certDer);
  if (usage) throw badInput(usage);

  const target = resolveItem(p, opts.item);
  if (opts.item && profile.mainDatasetOnly)
    throw badArgument(`the ${profileName} profile applies to the main data set only, not to items`);
  const elements = sortedByTag(target.elements);
  const covered = elements.filter(isSignable);
  const coveredTags = covered.map((e) => e.tag);
  const coveredSet = new Set(coveredTags);
  const missing = missingForProfile(
    profile,
    elements.map((e) => e.tag),
    coveredSet,
  );
  if (missing !== undefined)
    throw badInput(
      `the ${profileName} profile needs ${tagStr(missing)} signed, ` +
        `but the data set does not have it (or it is not signable)`,
    );
  if (!coveredTags.length) throw badInput('data set has no signable elements');

  const macId = freeMacId(p, elements);
  const uid = opts.uid ?? newUid();
  const dt = dicomDateTime(now);
  const macEnc: Encoding = { explicitVR: macTs.explicitVR, littleEndian: macTs.littleEndian };
  const head = [
    encodeUS(TAG.MACIDNumber, macId, enc),
    encodeString(TAG.DigitalSignatureUID, 'UI', uid, enc),
    encodeString(TAG.DigitalSignatureDateTime, 'DT', dt, enc),
    encodeString(TAG.CertificateType, 'CS', 'X509_1993_SIG', enc),
  ];
  const headMac = [
    encodeUS(TAG.MACIDNumber, macId, macEnc),
    encodeString(TAG.DigitalSignatureUID, 'UI', uid, macEnc),
    encodeString(TAG.DigitalSignatureDateTime, 'DT', dt, macEnc),
    encodeString(TAG.CertificateType, 'CS', 'X509_1993_SIG', macEnc),
  ];

  // Purpose code item (0008,0100) CodeValue, (0008,0102) CodingSchemeDesignator, (0008,0104) CodeMeaning; last in the
  // signature item (0400,0401).
  const purposeSeq = (e: Encoding) =>
    opts.purpose
      ? encodeSequence(
          TAG.DigitalSignaturePurposeCodeSequence,
          [
            encodeItem(
              [
                encodeString(0x00080100, 'SH', opts.purpose.value, e),
                encodeString(0x00080102, 'SH', opts.purpose.scheme, e),
                encodeString(0x00080104, 'LO', opts.purpose.meaning, e),
              ],
              e,
            ),
          ],
          e,
        )
      : null;
  const signer = createSign(MAC_ALGORITHMS[mac]);
  const w = new MacWriter(signer, macTs.littleEndian, macTs.explicitVR);
  for (const el of covered) writeSignatureFormat(p.bytes, el, w, target.elements);
  for (const b of headMac) w.bytes(b);
  const pm = purposeSeq(macEnc);
  if (pm) {
    // Signature format of a sequence (mac-encoding.ts): tag, VR + reserved, no lengths, item tag, elements, sequence
    // delimiter.
    const body = pm.subarray((macEnc.explicitVR ? 12 : 8) + 8);
    w.tag(TAG.DigitalSignaturePurposeCodeSequence);
    if (macEnc.explicitVR) {
      w.ascii('SQ');
      w.u16(0);
    }
    w.tag(ITEM);
    w.bytes(body);
    w.tag(SEQ_DELIM);
  }
  w.flush();
  let signature: Buffer;
  try {
    signature = signer.sign(opts.signer.key);
  } catch (e) {
    throw unsupported(`cannot sign with this key and MAC ${mac}: ${(e as Error).message.split('\n')[0]}`);
  }

  const sigItem = [
    ...head,
    encodeElement(TAG.CertificateOfSigner, 'OB', opts.signer.certDer, enc),
    encodeElement(TAG.Signature, 'OB', signature, enc),
  ];
  if (opts.timestamp) {
    const token = await opts.timestamp(signature);
    sigItem.push(
      encodeString(TAG.CertifiedTimestampType, 'CS', 'CMS_TSP', enc),
      encodeElement(TAG.CertifiedTimestamp, 'OB', token, enc),
    );
  }
  const ps = purposeSeq(enc);
  if (ps) sigItem.push(ps);
  const macItem = [
    encodeUS(TAG.MACIDNumber, macId, enc),
    encodeString(TAG.MACCalculationTransferSyntaxUID, 'UI', macTs.uid, enc),
    encodeString(TAG.MACAlgorithm, 'CS', mac, enc),
    encodeAT(TAG.DataElementsSigned, coveredTags, enc),
  ];

  const splices: Splice[] = [];
  const delta =
    addItem(p, target.elements, target.end, TAG.MACParametersSequence, encodeItem(macItem, enc), enc, splices) +
    addItem(p, target.elements, target.end, TAG.DigitalSignaturesSequence, encodeItem(sigItem, enc), enc, splices);
  fixAncestorLengths(p, target, delta, enc.littleEndian, splices);
  // No signature covers the 128-byte preamble or Data Set Trailing Padding, and strict verifiers refuse
  // them non-zero (polyglot files, e.g. TIFF/DICOM): the signed file gets them zeroed, lengths unchanged.
  const clean = Buffer.from(p.bytes);
  if (p.hasPreamble) clean.fill(0, 0, 128);
  const pad = p.dataset[p.dataset.length - 1];
  if (pad.tag === 0xfffcfffc && pad.length !== UNDEFINED) clean.fill(0, pad.valueOffset, pad.valueOffset + pad.length);
  const bytes = applySplices(clean, splices);
  return { bytes, uid, macId, covered: coveredTags, coversPixelData: coveredSet.has(PIXEL_DATA) };
}
