/**
 * Encoders for the few elements medshield writes (the signature sequences), in the data set's own
 * transfer syntax (PS3.5 §7.1 explicit/implicit VR, §7.3 byte order, §7.5 defined-length items).
 * Nothing else in a file is ever re-encoded.
 */
import { LONG_VRS, ITEM } from './dicom-parse.js';

export interface Encoding {
  explicitVR: boolean;
  littleEndian: boolean;
}

function u16(v: number, le: boolean): Uint8Array {
  const b = Buffer.alloc(2);
  if (le) b.writeUInt16LE(v);
  else b.writeUInt16BE(v);
  return b;
}
function u32(v: number, le: boolean): Uint8Array {
  const b = Buffer.alloc(4);
  if (le) b.writeUInt32LE(v >>> 0);
  else b.writeUInt32BE(v >>> 0);
  return b;
}

/** Encode one non-sequence element; odd values are padded (space for text, NUL for UI/OB). */
export function encodeElement(tag: number, vr: string, value: Uint8Array, enc: Encoding): Buffer {
  const padByte = vr === 'UI' || vr === 'OB' || vr === 'OW' || vr === 'UN' ? 0 : 0x20;
  const v = value.length & 1 ? Buffer.concat([value, Uint8Array.of(padByte)]) : Buffer.from(value);
  return Buffer.concat([header(tag, vr, v.length, enc), v]);
}

export function header(tag: number, vr: string, length: number, enc: Encoding): Buffer {
  const parts = [u16(tag >>> 16, enc.littleEndian), u16(tag & 0xffff, enc.littleEndian)];
  if (enc.explicitVR) {
    parts.push(Buffer.from(vr, 'latin1'));
    if (LONG_VRS.has(vr)) parts.push(u16(0, true), u32(length, enc.littleEndian));
    else parts.push(u16(length, enc.littleEndian));
  } else parts.push(u32(length, enc.littleEndian));
  return Buffer.concat(parts);
}

export const encodeString = (tag: number, vr: string, s: string, enc: Encoding): Buffer =>
  encodeElement(tag, vr, Buffer.from(s, 'latin1'), enc);
export const encodeUS = (tag: number, v: number, enc: Encoding): Buffer =>
  encodeElement(tag, 'US', u16(v, enc.littleEndian), enc);
export function encodeAT(tag: number, tags: number[], enc: Encoding): Buffer {
  return encodeElement(
    tag,
    'AT',
    Buffer.concat(tags.map((t) => Buffer.concat([u16(t >>> 16, enc.littleEndian), u16(t & 0xffff, enc.littleEndian)]))),
    enc,
  );
}

/** A defined-length item holding already-encoded elements. */
export function encodeItem(elements: Uint8Array[], enc: Encoding): Buffer {
  const body = Buffer.concat(elements);
  return Buffer.concat([
    u16(ITEM >>> 16, enc.littleEndian),
    u16(ITEM & 0xffff, enc.littleEndian),
    u32(body.length, enc.littleEndian),
    body,
  ]);
}

/** A defined-length sequence holding already-encoded items. */
export function encodeSequence(tag: number, items: Uint8Array[], enc: Encoding): Buffer {
  const body = Buffer.concat(items);
  return Buffer.concat([header(tag, 'SQ', body.length, enc), body]);
}

/** Overwrite a 4-byte length field in place (used when an item grows). */
export function writeU32(buf: Uint8Array, off: number, v: number, le: boolean): void {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  dv.setUint32(off, v >>> 0, le);
}
