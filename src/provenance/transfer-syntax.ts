/**
 * Transfer syntaxes (DICOM PS3.5 §10 and Annex A): how a data set is byte-encoded.
 * Only the properties the signature code needs: VR explicitness, byte order, encapsulation.
 */
import { unsupported } from '../errors.js';

export interface TransferSyntax {
  uid: string;
  name: string;
  explicitVR: boolean;
  littleEndian: boolean;
  /** Pixel data is a sequence of fragments (PS3.5 A.4). */
  encapsulated: boolean;
  /** Deflated data sets (PS3.5 A.5) cannot be spliced. */
  deflated: boolean;
}

export const IMPLICIT_LE = '1.2.840.10008.1.2';
export const EXPLICIT_LE = '1.2.840.10008.1.2.1';
export const EXPLICIT_BE = '1.2.840.10008.1.2.2';
export const DEFLATED_LE = '1.2.840.10008.1.2.1.99';

const NAMED: Record<string, string> = {
  [IMPLICIT_LE]: 'Implicit VR Little Endian',
  [EXPLICIT_LE]: 'Explicit VR Little Endian',
  [EXPLICIT_BE]: 'Explicit VR Big Endian',
  [DEFLATED_LE]: 'Deflated Explicit VR Little Endian',
  '1.2.840.10008.1.2.5': 'RLE Lossless',
  '1.2.840.10008.1.2.4.50': 'JPEG Baseline',
  '1.2.840.10008.1.2.4.51': 'JPEG Extended',
  '1.2.840.10008.1.2.4.57': 'JPEG Lossless',
  '1.2.840.10008.1.2.4.70': 'JPEG Lossless SV1',
  '1.2.840.10008.1.2.4.80': 'JPEG-LS Lossless',
  '1.2.840.10008.1.2.4.81': 'JPEG-LS Near-lossless',
  '1.2.840.10008.1.2.4.90': 'JPEG 2000 Lossless',
  '1.2.840.10008.1.2.4.91': 'JPEG 2000',
};

/** Describe a transfer syntax UID. Unknown UIDs under 1.2.840.10008.1.2.4/.5 are encapsulated explicit LE. */
export function transferSyntax(uid: string): TransferSyntax {
  const u = uid.replace(/[\0 ]+$/, '');
  const name = NAMED[u] ?? u;
  if (u === IMPLICIT_LE)
    return { uid: u, name, explicitVR: false, littleEndian: true, encapsulated: false, deflated: false };
  if (u === EXPLICIT_LE)
    return { uid: u, name, explicitVR: true, littleEndian: true, encapsulated: false, deflated: false };
  if (u === EXPLICIT_BE)
    return { uid: u, name, explicitVR: true, littleEndian: false, encapsulated: false, deflated: false };
  if (u === DEFLATED_LE || u === '1.2.840.10008.1.2.8.1')
    return { uid: u, name, explicitVR: true, littleEndian: true, encapsulated: false, deflated: true };
  if (/^1\.2\.840\.10008\.1\.2\.(4|5|6)(\.|$)/.test(u))
    return { uid: u, name, explicitVR: true, littleEndian: true, encapsulated: true, deflated: false };
  throw unsupported(`unknown transfer syntax ${JSON.stringify(u)}`);
}

/**
 * The MAC Calculation Transfer Syntax for a data set in `ts` (PS3.15 C.1 / PS3.3 C.12.1.1.3.1.1):
 * Implicit VR and Big Endian data sets are MACed in Explicit VR Little Endian (as DCMTK's dcmsign does);
 * others, including encapsulated syntaxes, in their own transfer syntax.
 */
export function macTransferSyntaxFor(ts: TransferSyntax): TransferSyntax {
  if (!ts.explicitVR || !ts.littleEndian || ts.deflated) return transferSyntax(EXPLICIT_LE);
  return ts;
}
