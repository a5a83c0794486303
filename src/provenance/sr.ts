/**
 * The gateway's answer as a signed DICOM Comprehensive SR (SOP Class 1.2.840.10008.5.1.4.1.1.88.33,
 * PS3.3 A.35.3), so a PACS can store the diagnosis next to the image it is about.
 *
 * Document (Explicit VR Little Endian, Part 10): Patient, General Study (copied from the image), SR
 * Document Series (new series, Modality SR), General Equipment (medshield), SR Document General and
 * SR Document Content (PS3.3 C.17.2, C.17.3), SOP Common. Times are UTC (Timezone Offset From UTC +0000;
 * DT values carry no offset, which DCMTK's SR checker refuses). Content tree under a CONTAINER
 * (18748-4, LN, "Diagnostic imaging study"):
 *   CONTAINS TEXT  (111001, DCM, "Algorithm Name")    model name
 *   CONTAINS TEXT  (111003, DCM, "Algorithm Version") sha256:<weights hash>
 *   CONTAINS CODE  (121071, DCM, "Finding")           (CLASS<label>, 99MEDSHIELD, class name)
 *   CONTAINS NUM (P<i>, 99MEDSHIELD, "Probability of <class>") unit (1, UCUM, "no units"), one per probability the
 *   output policy reveals
 *   CONTAINS IMAGE (260753009, SCT, "Source")        the classified image (Referenced SOP Class/Instance UID)
 *   CONTAINS TEXT  (REQID, 99MEDSHIELD, "Gateway request ID")
 *
 * The image is also referenced in the Current Requested Procedure Evidence Sequence (0040,A375) with a
 * Referenced SOP Instance MAC Sequence (0400,0403) (PS3.3 C.12.1.1.3.1.3 / Table 10-11): the MAC of
 * the referenced instance "generated as described in C.12.1.1.3, but unencrypted and without inclusion
 * of fields from the Digital Signatures Sequence" — i.e. the hash of the signature-format byte stream
 * (mac-encoding.ts) of the listed Data Elements Signed (all signable elements of the image's main data
 * set) in the MAC Calculation Transfer Syntax. {@link checkReferencedMac} recomputes it from an image.
 *
 * The document is then signed (sign.ts) over all its signable elements with a Digital Signature Purpose
 * Code (1, ASTM-sigpurpose, "Author's Signature"): PS3.15 Annex C "Structured Report RSA Digital Signature
 * Profile" (C.4 in PS3.15 2013; DCMTK SiStructuredReportingProfile, `dcmsign --profile-sr`) needs the
 * SOP Class, Study and Series Instance UIDs, General Equipment, Current Requested Procedure Evidence,
 * Observation DateTime and all SR Document Content attributes covered, and a purpose code.
 * The profile names RSA keys; with an EC gateway key the signature is the same with ECDSA (DCMTK
 * verifies it; `dcmsign +pr` enforces RSA).
 */
import { createHash } from 'node:crypto';
import { badInput } from '../errors.js';
import { VERSION } from '../version.js';
import {
  parseDicom,
  findElement,
  stringValue,
  valueBytes,
  atValues,
  type ParsedDicom,
  type DicomElement,
} from './dicom-parse.js';
import { encodeAT, encodeElement, encodeItem, encodeSequence, encodeString, type Encoding } from './dicom-encode.js';
import { MacWriter, isSignable, sortedByTag, writeSignatureFormat } from './mac-encoding.js';
import { macTransferSyntaxFor, EXPLICIT_LE } from './transfer-syntax.js';
import { MAC_ALGORITHMS, type MacAlgorithm } from './profiles.js';
import { signDicom, newUid, dicomDateTime } from './sign.js';
import type { SignerCredentials } from './certificates.js';

export const COMPREHENSIVE_SR = '1.2.840.10008.5.1.4.1.1.88.33';
/** medshield's implementation class UID (2.25 form of a fixed UUID, PS3.5 §B.2). */
export const IMPLEMENTATION_CLASS_UID =
  '2.25.' +
  BigInt('0x' + createHash('sha256').update('medshield implementation class').digest('hex').slice(0, 32)).toString();
export const AUTHOR_PURPOSE = { value: '1', scheme: 'ASTM-sigpurpose', meaning: "Author's Signature" };

const E: Encoding = { explicitVR: true, littleEndian: true };
const T = {
  SpecificCharacterSet: 0x00080005,
  InstanceCreationDate: 0x00080012,
  InstanceCreationTime: 0x00080013,
  SOPClassUID: 0x00080016,
  SOPInstanceUID: 0x00080018,
  StudyDate: 0x00080020,
  ContentDate: 0x00080023,
  StudyTime: 0x00080030,
  ContentTime: 0x00080033,
  AccessionNumber: 0x00080050,
  Modality: 0x00080060,
  TimezoneOffsetFromUTC: 0x00080201,
  Manufacturer: 0x00080070,
  ReferringPhysicianName: 0x00080090,
  CodeValue: 0x00080100,
  CodingSchemeDesignator: 0x00080102,
  CodeMeaning: 0x00080104,
  ManufacturerModelName: 0x00081090,
  RefPPSSequence: 0x00081111,
  ReferencedSeriesSequence: 0x00081115,
  ReferencedSOPClassUID: 0x00081150,
  ReferencedSOPInstanceUID: 0x00081155,
  ReferencedSOPSequence: 0x00081199,
  PatientName: 0x00100010,
  PatientID: 0x00100020,
  PatientBirthDate: 0x00100030,
  PatientSex: 0x00100040,
  SoftwareVersions: 0x00181020,
  StudyInstanceUID: 0x0020000d,
  SeriesInstanceUID: 0x0020000e,
  StudyID: 0x00200010,
  SeriesNumber: 0x00200011,
  InstanceNumber: 0x00200013,
  MeasurementUnitsCodeSequence: 0x004008ea,
  RelationshipType: 0x0040a010,
  ObservationDateTime: 0x0040a032,
  ValueType: 0x0040a040,
  ConceptNameCodeSequence: 0x0040a043,
  ContinuityOfContent: 0x0040a050,
  TextValue: 0x0040a160,
  ConceptCodeSequence: 0x0040a168,
  MeasuredValueSequence: 0x0040a300,
  NumericValue: 0x0040a30a,
  PerformedProcedureCodeSequence: 0x0040a372,
  CurrentRequestedProcedureEvidenceSequence: 0x0040a375,
  CompletionFlag: 0x0040a491,
  VerificationFlag: 0x0040a493,
  ContentSequence: 0x0040a730,
  MACCalculationTransferSyntaxUID: 0x04000010,
  MACAlgorithm: 0x04000015,
  DataElementsSigned: 0x04000020,
  ReferencedSOPInstanceMACSequence: 0x04000403,
  MAC: 0x04000404,
} as const;

type El = [number, Buffer];
type Code = [value: string, scheme: string, meaning: string];
const clip = (s: string, n: number): string => (s.length > n ? s.slice(0, n) : s);
const ascii = (s: string): string => s.replace(/[^\x20-\x7e]/g, '?');
const str = (tag: number, vr: string, v: string): El => [tag, encodeString(tag, vr, v, E)];
const raw = (tag: number, vr: string, v: Uint8Array): El => [tag, encodeElement(tag, vr, v, E)];
const item = (els: El[]): Buffer =>
  encodeItem(
    [...els].sort((a, b) => a[0] - b[0]).map((e) => e[1]),
    E,
  );
const seq = (tag: number, items: El[][]): El => [tag, encodeSequence(tag, items.map(item), E)];
const code = (c: Code): El[] => [
  str(T.CodeValue, 'SH', clip(ascii(c[0]), 16)),
  str(T.CodingSchemeDesignator, 'SH', c[1]),
  str(T.CodeMeaning, 'LO', clip(ascii(c[2]), 64)),
];
const contentItem = (valueType: string, concept: Code, value: El[]): El[] => [
  str(T.RelationshipType, 'CS', 'CONTAINS'),
  str(T.ValueType, 'CS', valueType),
  seq(T.ConceptNameCodeSequence, [code(concept)]),
  ...value,
];
/** DS (PS3.5 Table 6.2-1): at most 16 characters. */
const ds = (v: number): string => {
  for (let p = 10; p > 0; p--) {
    const s = String(Number(v.toPrecision(p)));
    if (s.length <= 16) return s;
  }
  return '0';
};
const daTm = (d: Date): { da: string; tm: string } => {
  const dt = dicomDateTime(d);
  return { da: dt.slice(0, 8), tm: dt.slice(8, 21) };
};

/** What the SR states about the classified image (the same facts as the signed JSON answer). */
export interface SrResult {
  requestId: string;
  model: string;
  modelSha256: string | null;
  label: number;
  className: string;
  classes: string[];
  /** Probabilities the output policy reveals: all (index = class), or only the top one. */
  probabilities?: number[];
  confidence?: number;
  time: Date;
}

export interface ReferencedMac {
  transferSyntax: string;
  algorithm: MacAlgorithm;
  tags: number[];
  mac: Buffer;
}

/**
 * PS3.3 C.12.1.1.3.1.3: MAC of the image's main data set (all signable elements), unencrypted, no signature item
 * fields.
 */
export function referencedInstanceMac(p: ParsedDicom, algorithm: MacAlgorithm = 'SHA256'): ReferencedMac {
  const ts = macTransferSyntaxFor(p.ts);
  const covered = sortedByTag(p.dataset).filter(isSignable);
  if (!covered.length) throw badInput('the image has no signable data elements to reference');
  const h = createHash(MAC_ALGORITHMS[algorithm]);
  const w = new MacWriter(h, ts.littleEndian, ts.explicitVR);
  for (const el of covered) writeSignatureFormat(p.bytes, el, w, p.dataset);
  w.flush();
  return { transferSyntax: ts.uid, algorithm, tags: covered.map((e) => e.tag), mac: h.digest() };
}

function uidOf(p: ParsedDicom, tag: number, what: string): string {
  const v = stringValue(p, findElement(p.dataset, tag));
  if (!v || !/^[0-9.]{1,64}$/.test(v)) throw badInput(`the image has no usable ${what}; an SR cannot reference it`);
  return v;
}

/** Copy a top-level string element's value bytes from the image (Type 2: empty when absent). */
function copied(p: ParsedDicom, tag: number, vr: string, type2: boolean): El[] {
  const el: DicomElement | undefined = findElement(p.dataset, tag);
  if (!el || el.items || el.fragments) return type2 ? [raw(tag, vr, new Uint8Array(0))] : [];
  return [raw(tag, vr, valueBytes(p, el))];
}

/** Build the (unsigned) Comprehensive SR document for `result` about `image` (Part 10 bytes). */
export function buildSr(
  image: Uint8Array,
  result: SrResult,
  o: { mac?: MacAlgorithm; uid?: string; seriesUid?: string } = {},
): { bytes: Buffer; sopInstanceUid: string } {
  const p = parseDicom(image);
  const imgClass = uidOf(p, T.SOPClassUID, 'SOP Class UID (0008,0016)');
  const imgInstance = uidOf(p, T.SOPInstanceUID, 'SOP Instance UID (0008,0018)');
  const study = uidOf(p, T.StudyInstanceUID, 'Study Instance UID (0020,000D)');
  const series = uidOf(p, T.SeriesInstanceUID, 'Series Instance UID (0020,000E)');
  const rm = referencedInstanceMac(p, o.mac ?? 'SHA256');
  const uid = o.uid ?? newUid();
  const { da, tm } = daTm(result.time);

  const probs: Array<[number, number]> = result.probabilities
    ? result.probabilities.map((v, i) => [i, v])
    : result.confidence !== undefined
      ? [[result.label, result.confidence]]
      : [];
  const refSop = (): El[] => [
    str(T.ReferencedSOPClassUID, 'UI', imgClass),
    str(T.ReferencedSOPInstanceUID, 'UI', imgInstance),
  ];
  const content: El[][] = [
    contentItem('TEXT', ['111001', 'DCM', 'Algorithm Name'], [str(T.TextValue, 'UT', ascii(result.model))]),
    contentItem(
      'TEXT',
      ['111003', 'DCM', 'Algorithm Version'],
      [str(T.TextValue, 'UT', result.modelSha256 ? `sha256:${result.modelSha256}` : 'unknown')],
    ),
    contentItem(
      'CODE',
      ['121071', 'DCM', 'Finding'],
      [seq(T.ConceptCodeSequence, [code([`CLASS${result.label}`, '99MEDSHIELD', result.className])])],
    ),
    ...probs.map(([i, v]) =>
      contentItem(
        'NUM',
        [`P${i}`, '99MEDSHIELD', `Probability of ${result.classes[i] ?? `class ${i}`}`],
        [
          seq(T.MeasuredValueSequence, [
            [seq(T.MeasurementUnitsCodeSequence, [code(['1', 'UCUM', 'no units'])]), str(T.NumericValue, 'DS', ds(v))],
          ]),
        ],
      ),
    ),
    contentItem('IMAGE', ['260753009', 'SCT', 'Source'], [seq(T.ReferencedSOPSequence, [refSop()])]),
    contentItem(
      'TEXT',
      ['REQID', '99MEDSHIELD', 'Gateway request ID'],
      [str(T.TextValue, 'UT', ascii(result.requestId))],
    ),
  ];
  const macItem: El[] = [
    str(T.MACCalculationTransferSyntaxUID, 'UI', rm.transferSyntax),
    str(T.MACAlgorithm, 'CS', rm.algorithm),
    [T.DataElementsSigned, encodeAT(T.DataElementsSigned, rm.tags, E)],
    raw(T.MAC, 'OB', rm.mac),
  ];
  const ds0: El[] = [
    ...copied(p, T.SpecificCharacterSet, 'CS', false),
    str(T.InstanceCreationDate, 'DA', da),
    str(T.InstanceCreationTime, 'TM', tm),
    str(T.SOPClassUID, 'UI', COMPREHENSIVE_SR),
    str(T.SOPInstanceUID, 'UI', uid),
    ...copied(p, T.StudyDate, 'DA', true),
    str(T.ContentDate, 'DA', da),
    ...copied(p, T.StudyTime, 'TM', true),
    str(T.ContentTime, 'TM', tm),
    str(T.TimezoneOffsetFromUTC, 'SH', '+0000'),
    ...copied(p, T.AccessionNumber, 'SH', true),
    str(T.Modality, 'CS', 'SR'),
    str(T.Manufacturer, 'LO', 'medshield'),
    ...copied(p, T.ReferringPhysicianName, 'PN', true),
    str(T.ManufacturerModelName, 'LO', 'medshield inference gateway'),
    seq(T.RefPPSSequence, []),
    ...copied(p, T.PatientName, 'PN', true),
    ...copied(p, T.PatientID, 'LO', true),
    ...copied(p, T.PatientBirthDate, 'DA', true),
    ...copied(p, T.PatientSex, 'CS', true),
    str(T.SoftwareVersions, 'LO', `medshield ${VERSION}`),
    str(T.StudyInstanceUID, 'UI', study),
    str(T.SeriesInstanceUID, 'UI', o.seriesUid ?? newUid()),
    ...copied(p, T.StudyID, 'SH', true),
    str(T.SeriesNumber, 'IS', '1'),
    str(T.InstanceNumber, 'IS', '1'),
    str(T.ObservationDateTime, 'DT', dicomDateTime(result.time).slice(0, 14)),
    str(T.ValueType, 'CS', 'CONTAINER'),
    seq(T.ConceptNameCodeSequence, [code(['18748-4', 'LN', 'Diagnostic imaging study'])]),
    str(T.ContinuityOfContent, 'CS', 'SEPARATE'),
    seq(T.PerformedProcedureCodeSequence, []),
    seq(T.CurrentRequestedProcedureEvidenceSequence, [
      [
        str(T.StudyInstanceUID, 'UI', study),
        seq(T.ReferencedSeriesSequence, [
          [
            str(T.SeriesInstanceUID, 'UI', series),
            seq(T.ReferencedSOPSequence, [[...refSop(), seq(T.ReferencedSOPInstanceMACSequence, [macItem])]]),
          ],
        ]),
      ],
    ]),
    str(T.CompletionFlag, 'CS', 'COMPLETE'),
    str(T.VerificationFlag, 'CS', 'UNVERIFIED'),
    seq(T.ContentSequence, content),
  ];
  const dataset = Buffer.concat(ds0.sort((a, b) => a[0] - b[0]).map((e) => e[1]));
  const metaEls = Buffer.concat([
    encodeElement(0x00020001, 'OB', Uint8Array.of(0, 1), E),
    encodeString(0x00020002, 'UI', COMPREHENSIVE_SR, E),
    encodeString(0x00020003, 'UI', uid, E),
    encodeString(0x00020010, 'UI', EXPLICIT_LE, E),
    encodeString(0x00020012, 'UI', IMPLEMENTATION_CLASS_UID, E),
    encodeString(0x00020013, 'SH', 'MEDSHIELD', E),
  ]);
  const glen = Buffer.alloc(4);
  glen.writeUInt32LE(metaEls.length);
  const bytes = Buffer.concat([
    Buffer.alloc(128),
    Buffer.from('DICM', 'latin1'),
    encodeElement(0x00020000, 'UL', glen, E),
    metaEls,
    dataset,
  ]);
  return { bytes, sopInstanceUid: uid };
}

/** Build the SR and sign it (all signable elements, purpose "Author's Signature") with the gateway's key. */
export async function buildSignedSr(
  image: Uint8Array,
  result: SrResult,
  signer: SignerCredentials,
  o: { mac?: MacAlgorithm; now?: Date } = {},
): Promise<{ bytes: Buffer; sopInstanceUid: string; signatureUid: string }> {
  const sr = buildSr(image, result, { mac: o.mac });
  const signed = await signDicom(sr.bytes, {
    signer,
    mac: o.mac ?? 'SHA256',
    purpose: AUTHOR_PURPOSE,
    now: o.now ?? result.time,
  });
  return { bytes: signed.bytes, sopInstanceUid: sr.sopInstanceUid, signatureUid: signed.uid };
}

/**
 * Does the SR's Referenced SOP Instance MAC match `image`? Finds the reference to the image's SOP
 * Instance UID in the Current Requested Procedure Evidence Sequence and recomputes its MAC over the
 * listed Data Elements Signed in the named transfer syntax and algorithm.
 */
export function checkReferencedMac(srBytes: Uint8Array, image: Uint8Array): { valid: boolean; reason: string } {
  const sr = parseDicom(srBytes);
  const img = parseDicom(image);
  const instance = stringValue(img, findElement(img.dataset, T.SOPInstanceUID));
  for (const st of findElement(sr.dataset, T.CurrentRequestedProcedureEvidenceSequence)?.items ?? []) {
    for (const se of findElement(st.elements, T.ReferencedSeriesSequence)?.items ?? []) {
      for (const ref of findElement(se.elements, T.ReferencedSOPSequence)?.items ?? []) {
        if (stringValue(sr, findElement(ref.elements, T.ReferencedSOPInstanceUID)) !== instance) continue;
        const m = findElement(ref.elements, T.ReferencedSOPInstanceMACSequence)?.items?.[0];
        if (!m)
          return { valid: false, reason: 'the reference to the image has no Referenced SOP Instance MAC Sequence' };
        const alg = stringValue(sr, findElement(m.elements, T.MACAlgorithm)) as MacAlgorithm;
        const tsUid = stringValue(sr, findElement(m.elements, T.MACCalculationTransferSyntaxUID));
        const tags = atValues(sr, findElement(m.elements, T.DataElementsSigned));
        const macEl = findElement(m.elements, T.MAC);
        if (!MAC_ALGORITHMS[alg] || !macEl)
          return { valid: false, reason: `unusable MAC parameters (algorithm ${alg})` };
        const ts = macTransferSyntaxFor(img.ts);
        if (tsUid !== ts.uid)
          return {
            valid: false,
            reason: `MAC transfer syntax ${tsUid} is not the one medshield computes in (${ts.uid})`,
          };
        const wanted = new Set(tags);
        const covered = sortedByTag(img.dataset).filter((e) => wanted.has(e.tag) && isSignable(e));
        if (covered.length !== wanted.size) return { valid: false, reason: 'the image lacks elements the MAC lists' };
        const h = createHash(MAC_ALGORITHMS[alg]);
        const w = new MacWriter(h, ts.littleEndian, ts.explicitVR);
        for (const el of covered) writeSignatureFormat(img.bytes, el, w, img.dataset);
        w.flush();
        const ok = h.digest().equals(Buffer.from(valueBytes(sr, macEl)));
        return ok
          ? { valid: true, reason: `MAC (${alg}) over ${tags.length} elements matches` }
          : { valid: false, reason: 'the image differs from the one the SR references (MAC mismatch)' };
      }
    }
  }
  return { valid: false, reason: `the SR does not reference SOP Instance ${instance ?? '(none)'}` };
}
