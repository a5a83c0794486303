/**
 * The byte stream fed to the MAC (DICOM PS3.3 C.12.1.1.3.1.1, PS3.15 Annex C), in the
 * MAC Calculation Transfer Syntax, following the rules DCMTK's dcmsign implements
 * (DcmObject::writeSignatureFormat):
 *  - an ordinary element is encoded exactly as in the transfer syntax (tag, VR, length, value padded to even);
 *  - a sequence is its tag and VR (plus the 2 reserved bytes in explicit VR) WITHOUT a length, then for each
 *    item the item tag WITHOUT a length and the item's signable elements, no item delimiter, and finally the
 *    sequence delimitation tag (FFFE,E0DD) WITHOUT a length;
 *  - encapsulated pixel data is encoded like a sequence: tag, 'OB', reserved, each fragment's item tag and
 *    value without length, then the sequence delimitation tag;
 *  - unsignable tags are skipped: group lengths (gggg,0000), Length to End (0008,0001), groups below 0008,
 *    group FFFA (Digital Signatures Sequence), MAC Parameters Sequence (4FFE,0001), Data Set Trailing
 *    Padding (FFFC,FFFC) and delimiters; so are elements of VR UN and sequences containing one (they could not
 *    be re-encoded unambiguously in another transfer syntax).
 * Values are byte-swapped when the source byte order differs from the MAC transfer syntax.
 *
 * Elements read in Implicit VR carry no VR, but the MAC stream of an Implicit VR data set is written in Explicit
 * VR Little Endian, so the VR written is the one DCMTK assigns when it reads the element (signatureVR in
 * vr-dictionary.ts): a multi-VR dictionary entry ("US or SS", "OB or OW") is resolved only from elements that
 * precede it in the SAME item (Pixel Representation, Waveform Bits Allocated), else by DCMTK's fixed fallback
 * (US, OB, OW). That is why every call names the element's container: the item (or data set) holding it.
 */
import { LONG_VRS, ITEM, SEQ_DELIM, type DicomElement } from './dicom-parse.js';
import { rawImplicitVR, signatureVR, type ImplicitItemContext } from '../data/vr-dictionary.js';

export interface ByteSink {
  update(data: Uint8Array): unknown;
}

/** PS3.15 C.12.1.1.3.1.1 / DCMTK DcmTagKey::isSignableTag. */
export function isSignableTag(tag: number): boolean {
  const g = tag >>> 16;
  const e = tag & 0xffff;
  if (e === 0) return false;
  if (g === 0x0008 && e === 0x0001) return false;
  if (g < 0x0008) return false;
  if (g === 0xfffa) return false;
  if (g === 0x4ffe && e === 0x0001) return false;
  if (g === 0xfffc && e === 0xfffc) return false;
  if (g === 0xfffe && (e === 0xe00d || e === 0xe0dd)) return false;
  return true;
}

/**
 * Elements of VR UN (or unknown) are not signable, nor sequences holding one (DCMTK DcmTag::isSignable,
 * DcmSequenceOfItems::isSignable).
 */
export function containsUnknownVR(el: DicomElement): boolean {
  if (el.unknownVR || (el.vr === 'UN' && !el.items)) return true;
  if (el.items) for (const it of el.items) for (const e of it.elements) if (containsUnknownVR(e)) return true;
  return false;
}

export function isSignable(el: DicomElement): boolean {
  if (!isSignableTag(el.tag)) return false;
  if (containsUnknownVR(el)) return false;
  return true;
}

const SWAP_SIZE: Record<string, number> = {
  US: 2,
  SS: 2,
  OW: 2,
  AT: 2,
  UL: 4,
  SL: 4,
  FL: 4,
  OF: 4,
  OL: 4,
  FD: 8,
  OD: 8,
  SV: 8,
  UV: 8,
  OV: 8,
};
const STRING_VRS = new Set([
  'AE',
  'AS',
  'CS',
  'DA',
  'DS',
  'DT',
  'IS',
  'LO',
  'LT',
  'PN',
  'SH',
  'ST',
  'TM',
  'UC',
  'UR',
  'UT',
]);

function swapped(v: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(v.length);
  const n = v.length - (v.length % size);
  for (let i = 0; i < n; i += size) for (let j = 0; j < size; j++) out[i + j] = v[i + size - 1 - j];
  out.set(v.subarray(n), n);
  return out;
}

/** Buffers small writes; hands large values straight to the sink. */
export class MacWriter {
  private buf = new Uint8Array(16384);
  private n = 0;
  constructor(
    readonly sink: ByteSink,
    readonly littleEndian: boolean,
    readonly explicitVR: boolean,
  ) {}
  private room(k: number): void {
    if (this.n + k > this.buf.length) this.flush();
  }
  u16(v: number): void {
    this.room(2);
    if (this.littleEndian) {
      this.buf[this.n] = v & 0xff;
      this.buf[this.n + 1] = v >>> 8;
    } else {
      this.buf[this.n] = v >>> 8;
      this.buf[this.n + 1] = v & 0xff;
    }
    this.n += 2;
  }
  u32(v: number): void {
    if (this.littleEndian) {
      this.u16(v & 0xffff);
      this.u16(v >>> 16);
    } else {
      this.u16(v >>> 16);
      this.u16(v & 0xffff);
    }
  }
  tag(t: number): void {
    this.u16(t >>> 16);
    this.u16(t & 0xffff);
  }
  ascii(s: string): void {
    this.room(s.length);
    for (let i = 0; i < s.length; i++) this.buf[this.n++] = s.charCodeAt(i);
  }
  bytes(b: Uint8Array): void {
    if (b.length <= 1024) {
      this.room(b.length);
      this.buf.set(b, this.n);
      this.n += b.length;
      return;
    }
    this.flush();
    this.sink.update(b);
  }
  flush(): void {
    if (this.n) {
      this.sink.update(this.buf.slice(0, this.n));
      this.n = 0;
    }
  }
}

function u16At(bytes: Uint8Array, el: DicomElement | undefined): number | undefined {
  if (!el || el.items || el.fragments || el.length < 2) return undefined;
  const o = el.valueOffset;
  return el.littleEndian ? bytes[o] | (bytes[o + 1] << 8) : (bytes[o] << 8) | bytes[o + 1];
}

function strAt(bytes: Uint8Array, el: DicomElement | undefined): string | undefined {
  if (!el || el.items || el.fragments) return undefined;
  return Buffer.from(bytes.subarray(el.valueOffset, el.valueOffset + el.length))
    .toString('latin1')
    .replace(/[\0 ]+$/, '')
    .replace(/^ +/, '');
}

/** The VR written to the MAC stream for an element read in Implicit VR, from its own container (see above). */
export function implicitSignatureVR(bytes: Uint8Array, el: DicomElement, container: readonly DicomElement[]): string {
  const g = el.tag >>> 16;
  const e = el.tag & 0xffff;
  let creator: string | undefined;
  if ((g & 1) === 1 && e >= 0x1000) {
    const creatorTag = ((g << 16) | (e >>> 8)) >>> 0;
    creator = strAt(
      bytes,
      container.find((x) => x.tag === creatorTag),
    );
  }
  const ctx: ImplicitItemContext = {};
  for (const x of container) {
    if (x.tag >= el.tag) continue; // DCMTK only knows what it has read so far
    if (x.tag === 0x00280103) ctx.pixelRepresentation = u16At(bytes, x);
    else if (x.tag === 0x54001004) ctx.waveformBitsAllocated = u16At(bytes, x);
  }
  return signatureVR(el.tag, rawImplicitVR(el.tag, creator), ctx);
}

/**
 * Feed one element, in signature format, to the writer. `bytes` is the file holding it; `container` is the
 * list of elements of the item (or data set) holding it, which decides the VR of Implicit VR elements.
 */
export function writeSignatureFormat(
  bytes: Uint8Array,
  el: DicomElement,
  w: MacWriter,
  container: readonly DicomElement[],
): void {
  if (el.items) {
    w.tag(el.tag);
    if (w.explicitVR) {
      w.ascii('SQ');
      w.u16(0);
    }
    for (const item of el.items) {
      w.tag(ITEM);
      for (const e of sortedByTag(item.elements)) if (isSignable(e)) writeSignatureFormat(bytes, e, w, item.elements);
    }
    w.tag(SEQ_DELIM);
    return;
  }
  if (el.fragments) {
    w.tag(el.tag);
    if (w.explicitVR) {
      w.ascii('OB');
      w.u16(0);
    }
    for (const f of el.fragments) {
      w.tag(ITEM);
      w.bytes(bytes.subarray(f.valueOffset, f.valueOffset + f.length));
    }
    w.tag(SEQ_DELIM);
    return;
  }
  let value = bytes.subarray(el.valueOffset, el.valueOffset + el.length);
  let vr = el.unknownVR ? 'UN' : el.explicitVR ? el.vr : implicitSignatureVR(bytes, el, container);
  if (el.littleEndian !== w.littleEndian && SWAP_SIZE[vr]) value = swapped(value, SWAP_SIZE[vr]);
  let length = value.length;
  const pad = length & 1;
  length += pad;
  if (w.explicitVR && !LONG_VRS.has(vr) && length > 0xffff) vr = 'UN';
  w.tag(el.tag);
  if (w.explicitVR) {
    w.ascii(vr);
    if (LONG_VRS.has(vr)) {
      w.u16(0);
      w.u32(length);
    } else w.u16(length);
  } else w.u32(length);
  w.bytes(value);
  if (pad) w.bytes(Uint8Array.of(STRING_VRS.has(vr) ? 0x20 : 0x00));
}

export function sortedByTag(elements: DicomElement[]): DicomElement[] {
  for (let i = 1; i < elements.length; i++)
    if (elements[i].tag < elements[i - 1].tag) return [...elements].sort((a, b) => a.tag - b.tag);
  return elements;
}
