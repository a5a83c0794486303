/**
 * Deflated Explicit VR Little Endian (PS3.5 §A.5, UID 1.2.840.10008.1.2.1.99): the data set after the file
 * meta information is a raw deflate stream (RFC 1951, no zlib header) of an Explicit VR Little Endian data set.
 * Signing and verification work on the INFLATED data set — the bytes the MAC stream and the decoder see — so
 * a deflated file is signed by inflating, splicing the signature into the inflated data set and deflating it
 * again (sign.ts), and verified by parsing the inflated view (verify.ts). The meta information is never
 * signed and is kept as it is. Bytes after the end of the deflate stream are refused (except one 00 pad
 * byte): no signature could cover them. The inflated size is capped (a "deflate bomb" of a few KB must not allocate
 * gigabytes).
 */
import { inflateRawSync, deflateRawSync } from 'node:zlib';
import { badInput } from '../errors.js';
import { DEFLATED_LE, EXPLICIT_LE } from './transfer-syntax.js';
import { encodeElement } from './dicom-encode.js';

/** Largest inflated data set accepted (bytes). */
export const MAX_INFLATED_BYTES = 1 << 30;

export interface DeflatedParts {
  /** Preamble, "DICM" and the file meta information, unchanged. */
  head: Uint8Array;
  /** The inflated data set (Explicit VR Little Endian). */
  dataset: Buffer;
}

/** Where the file meta information ends and its Transfer Syntax UID, or null when the file has no meta group. */
function metaEnd(b: Uint8Array): { end: number; ts?: string } | null {
  let off = 0;
  if (b.length >= 132 && b[128] === 0x44 && b[129] === 0x49 && b[130] === 0x43 && b[131] === 0x4d) off = 132;
  else if (b.length >= 4 && b[0] === 0x44 && b[1] === 0x49 && b[2] === 0x43 && b[3] === 0x4d) off = 4;
  else return null;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let ts: string | undefined;
  while (off + 8 <= b.length && dv.getUint16(off, true) === 0x0002) {
    const tag = ((dv.getUint16(off, true) << 16) | dv.getUint16(off + 2, true)) >>> 0;
    const vr = String.fromCharCode(b[off + 4], b[off + 5]);
    const long = ['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV'].includes(vr);
    if (long && off + 12 > b.length) return null;
    const len = long ? dv.getUint32(off + 8, true) : dv.getUint16(off + 6, true);
    const v = off + (long ? 12 : 8);
    if (len === 0xffffffff || v + len > b.length) return null;
    if (tag === 0x00020010)
      ts = Buffer.from(b.subarray(v, v + len))
        .toString('latin1')
        .replace(/[\0 ]+$/, '');
    off = v + len;
  }
  return { end: off, ts };
}

/** Split a deflated Part 10 file into its head and inflated data set; null for any other transfer syntax. */
export function splitDeflated(bytes: Uint8Array): DeflatedParts | null {
  const m = metaEnd(bytes);
  if (!m || m.ts !== DEFLATED_LE) return null;
  const body = bytes.subarray(m.end);
  let res: { buffer: Buffer; engine: { bytesWritten: number } };
  try {
    res = inflateRawSync(body, { info: true, maxOutputLength: MAX_INFLATED_BYTES }) as unknown as typeof res;
  } catch (e) {
    throw badInput(`deflated data set does not inflate: ${(e as Error).message.split('\n')[0]}`);
  }
  // One 00 byte may pad the stream to an even length; anything else after its end is unsigned data.
  const trailing = body.length - res.engine.bytesWritten;
  if (trailing > 1 || (trailing === 1 && body[body.length - 1] !== 0))
    throw badInput(`${trailing} bytes follow the end of the deflated data set`);
  return { head: bytes.subarray(0, m.end), dataset: res.buffer };
}

/**
 * "DICM" and a one-element meta group naming Explicit VR Little Endian: put before an inflated data set, the
 * parser reads it as Explicit VR (as PS3.5 §A.5 defines it), never by guessing from its first bytes.
 */
export const EXPLICIT_PREFIX: Buffer = Buffer.concat([
  Buffer.from('DICM', 'latin1'),
  encodeElement(0x00020010, 'UI', Buffer.from(EXPLICIT_LE, 'latin1'), { explicitVR: true, littleEndian: true }),
]);

/** What signature code parses: the file itself, or for a deflated file EXPLICIT_PREFIX + its inflated data set. */
export function inflatedView(bytes: Uint8Array): Uint8Array {
  const d = splitDeflated(bytes);
  return d ? Buffer.concat([EXPLICIT_PREFIX, d.dataset]) : bytes;
}

/** A deflated Part 10 file from its head and a (signed) inflated data set. */
export function joinDeflated(head: Uint8Array, dataset: Uint8Array): Buffer {
  return Buffer.concat([head, deflateRawSync(dataset, { level: 9 })]);
}
