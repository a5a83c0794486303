/**
 * DICOM transfer syntaxes (PS3.5 §10 and Annex A; UIDs from PS3.6 Annex A) and Part 10 sniffing
 * (PS3.10 §7.1: 128-byte preamble, then "DICM", then File Meta Information).
 */
import { unsupported } from '../errors.js';

export type PixelEncoding =
  | 'native'
  | 'rle'
  | 'jpeg-baseline'
  | 'jpeg-lossless'
  | 'jpeg-ls'
  | 'jpeg2000'
  | 'unsupported';

export interface TransferSyntax {
  uid: string;
  name: string;
  encoding: PixelEncoding;
  littleEndian: boolean;
  /** VRs are written in the stream (every syntax but Implicit VR Little Endian). */
  explicitVR: boolean;
  /** Pixel data is a sequence of fragments (PS3.5 §A.4). */
  encapsulated: boolean;
  /** The data set after the file meta information is deflated (PS3.5 §A.5). */
  deflated: boolean;
}

const TABLE: Array<[string, string, PixelEncoding]> = [
  ['1.2.840.10008.1.2', 'Implicit VR Little Endian', 'native'],
  ['1.2.840.10008.1.2.1', 'Explicit VR Little Endian', 'native'],
  ['1.2.840.10008.1.2.1.99', 'Deflated Explicit VR Little Endian', 'native'],
  ['1.2.840.10008.1.2.2', 'Explicit VR Big Endian', 'native'],
  ['1.2.840.10008.1.2.5', 'RLE Lossless', 'rle'],
  ['1.2.840.10008.1.2.4.50', 'JPEG Baseline (Process 1)', 'jpeg-baseline'],
  ['1.2.840.10008.1.2.4.51', 'JPEG Extended (Process 2 & 4)', 'jpeg-baseline'],
  ['1.2.840.10008.1.2.4.57', 'JPEG Lossless, Non-Hierarchical (Process 14)', 'jpeg-lossless'],
  [
    '1.2.840.10008.1.2.4.70',
    'JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 SV1)',
    'jpeg-lossless',
  ],
  ['1.2.840.10008.1.2.4.80', 'JPEG-LS Lossless', 'jpeg-ls'],
  ['1.2.840.10008.1.2.4.81', 'JPEG-LS Lossy (Near-Lossless)', 'jpeg-ls'],
  ['1.2.840.10008.1.2.4.90', 'JPEG 2000 Lossless Only', 'jpeg2000'],
  ['1.2.840.10008.1.2.4.91', 'JPEG 2000', 'jpeg2000'],
  ['1.2.840.10008.1.2.4.201', 'High-Throughput JPEG 2000 Lossless Only', 'unsupported'],
  ['1.2.840.10008.1.2.4.202', 'High-Throughput JPEG 2000 with RPCL Lossless Only', 'unsupported'],
  ['1.2.840.10008.1.2.4.203', 'High-Throughput JPEG 2000', 'unsupported'],
  ['1.2.840.10008.1.2.4.100', 'MPEG2 Main Profile / Main Level', 'unsupported'],
  ['1.2.840.10008.1.2.4.102', 'MPEG-4 AVC/H.264 High Profile', 'unsupported'],
  ['1.2.840.10008.1.2.4.110', 'JPEG XL Lossless', 'unsupported'],
];

export const IMPLICIT_VR_LE = '1.2.840.10008.1.2';
export const EXPLICIT_VR_LE = '1.2.840.10008.1.2.1';

export function transferSyntax(uid: string): TransferSyntax {
  const clean = uid.replace(/[\0\s]+$/, '').trim();
  const row = TABLE.find((r) => r[0] === clean);
  // Unknown UIDs under 1.2.840.10008.1.2.4/.5/.6 are encapsulated Explicit VR Little Endian (PS3.5 §A.4).
  if (row === undefined)
    return {
      uid: clean,
      name: 'unknown transfer syntax',
      encoding: 'unsupported',
      littleEndian: true,
      explicitVR: true,
      encapsulated: /^1\.2\.840\.10008\.1\.2\.(4|5|6)(\.|$)/.test(clean),
      deflated: false,
    };
  const encapsulated = row[2] !== 'native' || /^1\.2\.840\.10008\.1\.2\.4\./.test(clean);
  return {
    uid: clean,
    name: row[1],
    encoding: row[2],
    littleEndian: clean !== '1.2.840.10008.1.2.2',
    explicitVR: clean !== IMPLICIT_VR_LE,
    encapsulated,
    deflated: clean === '1.2.840.10008.1.2.1.99',
  };
}

/** A transfer syntax the byte-offset parser can read: known, or an encapsulated one (else UNSUPPORTED). */
export function parsableSyntax(uid: string): TransferSyntax {
  const ts = transferSyntax(uid);
  if (ts.encoding === 'unsupported' && !ts.encapsulated && ts.uid !== '1.2.840.10008.1.2.8.1')
    throw unsupported(`unknown transfer syntax ${JSON.stringify(ts.uid)}`);
  if (ts.uid === '1.2.840.10008.1.2.8.1') return { ...ts, deflated: true };
  return ts;
}

/** Value Representations (PS3.5 §6.2), used to tell explicit from implicit VR in a bare data set. */
const VRS = new Set(
  'AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV'.split(' '),
);

export type DicomKind = { part10: true } | { part10: false; syntax: string };

/**
 * Is this a DICOM file? Part 10 files have "DICM" at byte 128. Old ACR-NEMA-style files are a bare
 * little-endian data set: accept one whose first element is in group 0x0000, 0x0002 or 0x0008 with
 * a small element number and a plausible length, and decide explicit vs implicit VR by whether
 * bytes 4–5 spell a VR.
 */
export function sniffDicom(bytes: Uint8Array): DicomKind | null {
  if (bytes.length >= 132 && bytes[128] === 0x44 && bytes[129] === 0x49 && bytes[130] === 0x43 && bytes[131] === 0x4d) {
    return { part10: true };
  }
  if (bytes.length < 16) return null;
  const group = bytes[0] | (bytes[1] << 8);
  const element = bytes[2] | (bytes[3] << 8);
  if (!(group === 0x0000 || group === 0x0002 || group === 0x0008) || element > 0x0020) return null;
  const vr = String.fromCharCode(bytes[4], bytes[5]);
  if (VRS.has(vr)) return { part10: false, syntax: EXPLICIT_VR_LE };
  const length = (bytes[4] | (bytes[5] << 8) | (bytes[6] << 16) | (bytes[7] << 24)) >>> 0;
  if (length > bytes.length) return null;
  return { part10: false, syntax: IMPLICIT_VR_LE };
}
