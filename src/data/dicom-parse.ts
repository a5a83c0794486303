/**
 * THE DICOM parser of medshield: a byte-offset parser (PS3.10 §7 file format, PS3.5 §7 data element
 * encoding) used by signature verification and signing (provenance/), pixel decoding (data/dicom.ts),
 * `dicom dump` and the gateway — one parser, so no two components can read the same bytes differently.
 * It never decodes values: every element records where its header and value lie in the original bytes,
 * so signatures can be computed over the exact bytes and spliced in without re-encoding. Handles
 * preamble-less files, files without meta information (ACR-NEMA style), explicit/implicit VR, big
 * endian, undefined lengths and encapsulated pixel data; deflated data sets only on request (decoding).
 * Every length is bounds-checked and elements must ascend at every nesting level (no duplicates):
 * malformed input gives a one-line BAD_INPUT error. `ambiguities()` names what a strict policy refuses.
 */
import { inflateRawSync } from 'node:zlib';
import { badInput } from '../errors.js';
import {
  parsableSyntax,
  IMPLICIT_VR_LE as IMPLICIT_LE,
  EXPLICIT_VR_LE as EXPLICIT_LE,
  type TransferSyntax,
} from './dicom-syntax.js';
import { implicitVR } from './vr-dictionary.js';

export const UNDEFINED = 0xffffffff;
export const ITEM = 0xfffee000;
export const ITEM_DELIM = 0xfffee00d;
export const SEQ_DELIM = 0xfffee0dd;
export const PIXEL_DATA = 0x7fe00010;
export const MAX_DEPTH = 64;

/** VRs with a 2-byte reserved field and a 4-byte length in explicit VR (PS3.5 Table 7.1-1). */
export const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);
const KNOWN_VRS = new Set([
  'AE',
  'AS',
  'AT',
  'CS',
  'DA',
  'DS',
  'DT',
  'FL',
  'FD',
  'IS',
  'LO',
  'LT',
  'PN',
  'SH',
  'SL',
  'SS',
  'ST',
  'TM',
  'UI',
  'UL',
  'US',
  ...LONG_VRS,
]);

export interface DicomItem {
  start: number;
  valueOffset: number;
  /** Declared length (UNDEFINED when delimited). */
  length: number;
  /** Offset after the item, including its delimiter. */
  end: number;
  elements: DicomElement[];
}

export interface Fragment {
  start: number;
  valueOffset: number;
  length: number;
}

export interface DicomElement {
  tag: number;
  vr: string;
  /** VR read from the stream (explicit VR) rather than the dictionary. */
  explicitVR: boolean;
  /** The element's VR was unknown (implicit VR, tag not in the dictionary): DCMTK's "unknown VR". */
  unknownVR: boolean;
  start: number;
  valueOffset: number;
  length: number;
  end: number;
  littleEndian: boolean;
  items?: DicomItem[];
  fragments?: Fragment[];
}

export interface ParsedDicom {
  bytes: Uint8Array;
  hasPreamble: boolean;
  meta: DicomElement[];
  datasetStart: number;
  ts: TransferSyntax;
  /** Transfer syntax named in the meta information (undefined for raw data sets). */
  metaTransferSyntaxUID?: string;
  dataset: DicomElement[];
  /** The data set was inflated (Deflated Explicit VR LE): `bytes` are the meta + inflated data set, not the file. */
  inflated?: boolean;
}

export interface ParseOptions {
  /**
   * Inflate a deflated data set (PS3.5 §A.5) instead of refusing it (decoding only: such files cannot be verified
   * byte-exactly).
   */
  inflate?: boolean;
}

export const tagStr = (t: number): string =>
  `(${(t >>> 16).toString(16).toUpperCase().padStart(4, '0')},` +
  `${(t & 0xffff).toString(16).toUpperCase().padStart(4, '0')})`;

class Reader {
  readonly dv: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  need(off: number, n: number, what: string): void {
    if (off < 0 || off + n > this.bytes.length)
      throw badInput(`truncated DICOM data: ${what} at offset ${off} needs ${n} bytes, file has ${this.bytes.length}`);
  }
  u16(off: number, le: boolean): number {
    return this.dv.getUint16(off, le);
  }
  u32(off: number, le: boolean): number {
    return this.dv.getUint32(off, le);
  }
  tag(off: number, le: boolean): number {
    return ((this.u16(off, le) << 16) | this.u16(off + 2, le)) >>> 0;
  }
}

interface Ctx {
  r: Reader;
  explicit: boolean;
  le: boolean;
  signedPixels: boolean;
  count: number;
}

function readHeader(
  c: Ctx,
  off: number,
  end: number,
  explicit: boolean,
  creators?: Map<number, string>,
): { tag: number; vr: string; explicitVR: boolean; unknownVR: boolean; length: number; valueOffset: number } {
  const { r, le } = c;
  r.need(off, 8, 'element header');
  if (off + 8 > end) throw badInput(`element header at offset ${off} runs past its enclosing item`);
  const tag = r.tag(off, le);
  if (tag === ITEM || tag === ITEM_DELIM || tag === SEQ_DELIM)
    return { tag, vr: '', explicitVR: false, unknownVR: false, length: r.u32(off + 4, le), valueOffset: off + 8 };
  if (explicit) {
    const vr = String.fromCharCode(r.bytes[off + 4], r.bytes[off + 5]);
    if (!KNOWN_VRS.has(vr))
      throw badInput(`invalid VR ${JSON.stringify(vr)} for element ${tagStr(tag)} at offset ${off}`);
    if (LONG_VRS.has(vr)) {
      r.need(off, 12, 'element header');
      // PS3.5 §7.1.2: the reserved field is 0000H. It is not part of the MAC stream, so a non-zero value
      // would be an unsigned change to the file: refuse it.
      if (r.bytes[off + 6] !== 0 || r.bytes[off + 7] !== 0)
        throw badInput(`reserved bytes of element ${tagStr(tag)} at offset ${off} are not zero`);
      return { tag, vr, explicitVR: true, unknownVR: false, length: r.u32(off + 8, le), valueOffset: off + 12 };
    }
    return { tag, vr, explicitVR: true, unknownVR: false, length: r.u16(off + 6, le), valueOffset: off + 8 };
  }
  const length = r.u32(off + 4, le);
  const g = tag >>> 16;
  const creator =
    (g & 1) === 1 && (tag & 0xffff) >= 0x1000 ? creators?.get(((g << 8) | ((tag >>> 8) & 0xff)) >>> 0) : undefined;
  let vr = implicitVR(tag, c.signedPixels, creator);
  const unknownVR = vr === 'UN' && (tag & 0xffff) !== 0;
  if (length === UNDEFINED && tag !== PIXEL_DATA) vr = 'SQ';
  if (tag === PIXEL_DATA && length === UNDEFINED) vr = 'OB';
  return { tag, vr, explicitVR: false, unknownVR: unknownVR && vr !== 'SQ', length, valueOffset: off + 8 };
}

/** Parse elements in [off, end) until `end` or (when delimited) an item delimiter. */
function parseElements(
  c: Ctx,
  off: number,
  end: number,
  depth: number,
  delimited: boolean,
  topLevel: boolean,
): { elements: DicomElement[]; next: number } {
  if (depth > MAX_DEPTH) throw badInput(`sequence nesting deeper than ${MAX_DEPTH} at offset ${off}`);
  const elements: DicomElement[] = [];
  const creators = new Map<number, string>();
  while (off < end) {
    if (++c.count > 1_000_000) throw badInput('too many data elements (over 1 000 000)');
    const h = readHeader(c, off, end, c.explicit, creators);
    if (h.tag === ITEM_DELIM) {
      if (!delimited) throw badInput(`unexpected item delimiter at offset ${off}`);
      return { elements, next: off + 8 };
    }
    if (h.tag === ITEM || h.tag === SEQ_DELIM) {
      if (topLevel && h.tag === SEQ_DELIM) throw badInput(`unexpected sequence delimiter at offset ${off}`);
      throw badInput(`unexpected ${h.tag === ITEM ? 'item' : 'sequence delimiter'} tag at offset ${off}`);
    }
    // PS3.5 §7.1: elements ascend by tag. A reordered or duplicated element would be hidden by sorting, so refuse it.
    if (elements.length && h.tag <= elements[elements.length - 1].tag) {
      throw badInput(
        `data elements out of order: ${tagStr(h.tag)} after ` +
          `${tagStr(elements[elements.length - 1].tag)} at offset ${off}`,
      );
    }
    const el: DicomElement = {
      tag: h.tag,
      vr: h.vr,
      explicitVR: h.explicitVR,
      unknownVR: h.unknownVR,
      start: off,
      valueOffset: h.valueOffset,
      length: h.length,
      end: 0,
      littleEndian: c.le,
    };
    if (h.vr === 'SQ' || (h.vr === 'UN' && h.length === UNDEFINED)) {
      // PS3.5 §6.2.2: UN with undefined length is a sequence encoded in Implicit VR Little Endian.
      const sub: Ctx = h.vr === 'UN' ? { ...c, explicit: false, le: true } : c;
      const { items, next } = parseItems(sub, h.valueOffset, h.length, end, depth + 1);
      el.items = items;
      el.end = next;
      if (h.vr === 'UN') c.count = sub.count;
    } else if (h.length === UNDEFINED) {
      if (h.tag !== PIXEL_DATA)
        throw badInput(`undefined length on non-sequence element ${tagStr(h.tag)} at offset ${off}`);
      const { fragments, next } = parseFragments(c, h.valueOffset, end);
      el.fragments = fragments;
      el.end = next;
    } else {
      if (h.valueOffset + h.length > end)
        throw badInput(
          `element ${tagStr(h.tag)} at offset ${off} declares ${h.length} bytes, only ${end - h.valueOffset} remain`,
        );
      el.end = h.valueOffset + h.length;
      if (h.tag === 0x00280103 && h.length >= 2) c.signedPixels = c.r.u16(h.valueOffset, c.le) === 1;
      const g = h.tag >>> 16;
      const e = h.tag & 0xffff;
      if ((g & 1) === 1 && e >= 0x10 && e <= 0xff && h.length <= 64) {
        // Private Creator (PS3.5 §7.8.1): reserves block e of group g for the named creator.
        creators.set(
          ((g << 8) | e) >>> 0,
          Buffer.from(c.r.bytes.subarray(h.valueOffset, el.end))
            .toString('latin1')
            .replace(/[\0 ]+$/, '')
            .replace(/^ +/, ''),
        );
      }
    }
    elements.push(el);
    off = el.end;
  }
  if (delimited) throw badInput(`item with undefined length is missing its delimiter (offset ${off})`);
  return { elements, next: off };
}

function parseItems(
  c: Ctx,
  off: number,
  length: number,
  end: number,
  depth: number,
): { items: DicomItem[]; next: number } {
  if (depth > MAX_DEPTH) throw badInput(`sequence nesting deeper than ${MAX_DEPTH} at offset ${off}`);
  const items: DicomItem[] = [];
  const seqEnd = length === UNDEFINED ? end : off + length;
  if (seqEnd > end) throw badInput(`sequence at offset ${off - 12} declares ${length} bytes, only ${end - off} remain`);
  while (off < seqEnd) {
    c.r.need(off, 8, 'item header');
    const tag = c.r.tag(off, c.le);
    const len = c.r.u32(off + 4, c.le);
    if (tag === SEQ_DELIM) {
      if (length !== UNDEFINED) throw badInput(`sequence delimiter inside a defined-length sequence at offset ${off}`);
      return { items, next: off + 8 };
    }
    if (tag !== ITEM) throw badInput(`expected an item tag in sequence at offset ${off}, found ${tagStr(tag)}`);
    if (len === UNDEFINED) {
      const { elements, next } = parseElements(c, off + 8, seqEnd, depth + 1, true, false);
      items.push({ start: off, valueOffset: off + 8, length: len, end: next, elements });
      off = next;
    } else {
      if (off + 8 + len > seqEnd)
        throw badInput(`item at offset ${off} declares ${len} bytes, only ${seqEnd - off - 8} remain`);
      const { elements } = parseElements(c, off + 8, off + 8 + len, depth + 1, false, false);
      items.push({ start: off, valueOffset: off + 8, length: len, end: off + 8 + len, elements });
      off += 8 + len;
    }
  }
  if (length === UNDEFINED) throw badInput('sequence with undefined length is missing its delimiter');
  return { items, next: off };
}

function parseFragments(c: Ctx, off: number, end: number): { fragments: Fragment[]; next: number } {
  const fragments: Fragment[] = [];
  while (off < end) {
    c.r.need(off, 8, 'pixel data fragment');
    const tag = c.r.tag(off, c.le);
    const len = c.r.u32(off + 4, c.le);
    if (tag === SEQ_DELIM) return { fragments, next: off + 8 };
    if (tag !== ITEM) throw badInput(`expected a pixel data fragment at offset ${off}, found ${tagStr(tag)}`);
    if (len === UNDEFINED || off + 8 + len > end)
      throw badInput(
        `pixel data fragment at offset ${off} declares ` +
          `${len === UNDEFINED ? 'an undefined' : len} length, only ${end - off - 8} bytes remain`,
      );
    fragments.push({ start: off, valueOffset: off + 8, length: len });
    off += 8 + len;
    if (++c.count > 1_000_000) throw badInput('too many pixel data fragments');
  }
  throw badInput('encapsulated pixel data is missing its sequence delimiter');
}

function looksExplicit(b: Uint8Array, off: number): boolean {
  if (off + 6 > b.length) return false;
  const vr = String.fromCharCode(b[off + 4], b[off + 5]);
  return KNOWN_VRS.has(vr);
}

/** Parse a DICOM Part 10 file or a raw data set. Throws BAD_INPUT naming the first problem. */
export function parseDicom(input: Uint8Array, opts: ParseOptions = {}): ParsedDicom {
  let bytes = input;
  let r = new Reader(bytes);
  if (bytes.length < 8) throw badInput(`not a DICOM file: only ${bytes.length} bytes`);
  let off = 0;
  let hasPreamble = false;
  if (bytes.length >= 132 && bytes[128] === 0x44 && bytes[129] === 0x49 && bytes[130] === 0x43 && bytes[131] === 0x4d) {
    off = 132;
    hasPreamble = true;
  } else if (bytes[0] === 0x44 && bytes[1] === 0x49 && bytes[2] === 0x43 && bytes[3] === 0x4d) off = 4;
  const meta: DicomElement[] = [];
  let tsUID: string | undefined;
  const metaCtx: Ctx = { r, explicit: true, le: true, signedPixels: false, count: 0 };
  while (off + 8 <= bytes.length && r.u16(off, true) === 0x0002) {
    const h = readHeader(metaCtx, off, bytes.length, true);
    if (h.length === UNDEFINED || h.valueOffset + h.length > bytes.length)
      throw badInput(`file meta element ${tagStr(h.tag)} has a bad length`);
    if (meta.length && h.tag <= meta[meta.length - 1].tag)
      throw badInput(
        `file meta elements out of order: ${tagStr(h.tag)} after ${tagStr(meta[meta.length - 1].tag)} at offset ${off}`,
      );
    const el: DicomElement = {
      tag: h.tag,
      vr: h.vr,
      explicitVR: true,
      unknownVR: false,
      start: off,
      valueOffset: h.valueOffset,
      length: h.length,
      end: h.valueOffset + h.length,
      littleEndian: true,
    };
    if (h.tag === 0x00020010)
      tsUID = new TextDecoder('latin1').decode(bytes.subarray(el.valueOffset, el.end)).replace(/[\0 ]+$/, '');
    meta.push(el);
    off = el.end;
  }
  if (hasPreamble && meta.length === 0) throw badInput('DICOM file has a preamble but no file meta information');
  if (meta.length && !tsUID) throw badInput('file meta information has no Transfer Syntax UID (0002,0010)');
  if (!hasPreamble && !meta.length) {
    // Raw data set: plausible first tag (group 0008 or below 0x7FE0, even) and guessed VR explicitness.
    const g = r.u16(0, true);
    if (g === 0 || g > 0x7fe0 || (g & 1) === 1)
      throw badInput('not a DICOM file: no DICM preamble and no plausible data set');
    tsUID = looksExplicit(bytes, 0) ? EXPLICIT_LE : IMPLICIT_LE;
  }
  let ts = parsableSyntax(tsUID!);
  let inflated = false;
  if (ts.deflated) {
    if (!opts.inflate) throw badInput(`deflated transfer syntax ${ts.uid} cannot be signed or verified byte-exactly`);
    let body: Buffer;
    try {
      body = inflateRawSync(bytes.subarray(off), { maxOutputLength: 2 ** 31 - 1 });
    } catch (e) {
      throw badInput(`corrupt deflated DICOM data set (${(e as Error).message.split('\n')[0]})`, e);
    }
    const full = new Uint8Array(off + body.length);
    full.set(bytes.subarray(0, off));
    full.set(body, off);
    bytes = full;
    r = new Reader(bytes);
    ts = { ...ts, deflated: false };
    inflated = true;
  }
  const c: Ctx = { r, explicit: ts.explicitVR, le: ts.littleEndian, signedPixels: false, count: 0 };
  const { elements } = parseElements(c, off, bytes.length, 0, false, true);
  if (!elements.length) throw badInput('DICOM file has no data set');
  return {
    bytes,
    hasPreamble,
    meta,
    datasetStart: off,
    ts,
    metaTransferSyntaxUID: meta.length ? tsUID : undefined,
    dataset: elements,
    ...(inflated ? { inflated } : {}),
  };
}

const DIGITAL_SIGNATURES_SEQUENCE = 0xfffafffa;
const TRAILING_PADDING = 0xfffcfffc;
const MAGIC: Array<[string, number[]]> = [
  ['PNG', [0x89, 0x50, 0x4e, 0x47]],
  ['JPEG', [0xff, 0xd8, 0xff]],
  ['TIFF', [0x49, 0x49, 0x2a, 0x00]],
  ['TIFF', [0x4d, 0x4d, 0x00, 0x2a]],
  ['GIF', [0x47, 0x49, 0x46, 0x38]],
  ['PDF', [0x25, 0x50, 0x44, 0x46]],
  ['ZIP', [0x50, 0x4b, 0x03, 0x04]],
  ['BMP', [0x42, 0x4d]],
];

/**
 * What a strict policy (a signature is required) refuses in an otherwise parseable file: every byte that
 * no signature can cover and another reader could act on, and every layout two readers could disagree
 * about (issue 20 findings 1–2). Returns the first problem in words, or undefined.
 *   - a non-zero 128-byte preamble (PS3.10 §7.1 lets it hold another format's header: a polyglot file);
 *   - file meta information whose Group Length (0002,0000) disagrees with its size (readers that skip
 *     the meta by its group length and readers that walk it would start the data set at different bytes);
 *   - elements of groups 0000–0007 (command group, file meta group 0002, odd groups 0001/0003/0005/0007)
 *     in the data set or in any item — e.g. an odd group inserted after the meta of an implicit VR file;
 *   - Data Set Trailing Padding (FFFC,FFFC) that is not the last top-level element or is not all zero
 *     (PS3.10 §7.2 makes its value meaningless: a hiding place, e.g. for a polyglot's image data), and any
 *     other top-level element after the Digital Signatures Sequence (FFFA,FFFA): data appended after the
 *     signed data set;
 *   - a Group Length (0028,0000) or (7FE0,0000) that disagrees with its group's size;
 *   - a transfer syntax that disagrees with the encoding (an implicit VR data set that reads as explicit).
 * Duplicate and out-of-order tags, trailing bytes that are not whole elements, and appended data sets
 * (their preamble reads as tag (0000,0000)) already fail parsing.
 */
export function ambiguities(p: ParsedDicom): string | undefined {
  const b = p.bytes;
  if (p.hasPreamble) {
    const pre = b.subarray(0, 128);
    const magic = MAGIC.find(([, m]) => m.every((x, i) => pre[i] === x));
    if (magic)
      return (
        `the 128-byte preamble carries a ${magic[0]} signature (a ` +
        `polyglot file: the preamble is not covered by any signature)`
      );
    const nz = pre.findIndex((x) => x !== 0);
    if (nz >= 0) return `the 128-byte preamble is not zero (byte ${nz}): it is not covered by any signature`;
  }
  const gl = p.meta.find((e) => e.tag === 0x00020000);
  if (gl && p.meta.length) {
    const declared = gl.length >= 4 ? new DataView(b.buffer, b.byteOffset + gl.valueOffset, 4).getUint32(0, true) : -1;
    const actual = p.datasetStart - gl.end;
    if (declared !== actual)
      return (
        `File Meta Information Group Length (0002,0000) says ` + `${declared} bytes, the meta information has ${actual}`
      );
  }
  if (!p.ts.explicitVR && looksExplicit(b, p.datasetStart)) {
    const vrLen = new DataView(b.buffer, b.byteOffset + p.datasetStart + 6, 2).getUint16(0, true);
    if (p.datasetStart + 8 + vrLen <= b.length)
      return (
        `transfer syntax ${p.ts.uid} (implicit VR) disagrees ` + `with the data set, which is encoded with explicit VRs`
      );
  }
  // Group Length (gggg,0000) elements are unsigned; in the pixel groups 0028 and 7FE0, a reader that skips
  // a group by its length must land where we do. (Other groups' lengths are often stale in real files.)
  for (let i = 0; i < p.dataset.length; i++) {
    const e = p.dataset[i];
    const g = e.tag >>> 16;
    if ((e.tag & 0xffff) !== 0 || e.length !== 4 || (g !== 0x0028 && g !== 0x7fe0)) continue;
    let j = i + 1;
    while (j < p.dataset.length && p.dataset[j].tag >>> 16 === g) j++;
    const actual = (j > i + 1 ? p.dataset[j - 1].end : e.end) - e.end;
    const declared = new DataView(b.buffer, b.byteOffset + e.valueOffset, 4).getUint32(0, e.littleEndian);
    if (declared !== actual) return `Group Length ${tagStr(e.tag)} says ${declared} bytes, the group has ${actual}`;
  }
  const walk = (elements: DicomElement[], where: string, depth: number): string | undefined => {
    for (const e of elements) {
      const g = e.tag >>> 16;
      if (g < 0x0008)
        return (
          `element ${tagStr(e.tag)} of group ${g.toString(16).toUpperCase().padStart(4, '0')}` +
          ` in the ${where} (groups 0000–0007 do not belong in a data set)`
        );
      if (e.tag === TRAILING_PADDING && (depth > 0 || e !== p.dataset[p.dataset.length - 1]))
        return `Data Set Trailing Padding (FFFC,FFFC) in the ${where} is not the last element of the data set`;
      if (
        e.tag === TRAILING_PADDING &&
        e.length !== UNDEFINED &&
        b.subarray(e.valueOffset, e.valueOffset + e.length).some((x) => x !== 0)
      )
        return 'Data Set Trailing Padding (FFFC,FFFC) carries non-zero data: bytes no signature covers';
      if (depth > MAX_DEPTH) continue;
      for (const it of e.items ?? []) {
        const w = walk(it.elements, `item of ${tagStr(e.tag)}`, depth + 1);
        if (w) return w;
      }
    }
    return undefined;
  };
  const w = walk(p.dataset, 'data set', 0);
  if (w) return w;
  const sig = p.dataset.findIndex((e) => e.tag === DIGITAL_SIGNATURES_SEQUENCE);
  const last = p.dataset[p.dataset.length - 1].tag === TRAILING_PADDING ? p.dataset.length - 2 : p.dataset.length - 1;
  if (sig >= 0 && sig < last)
    return (
      `element ${tagStr(p.dataset[sig + 1].tag)} follows the Digital ` +
      `Signatures Sequence (FFFA,FFFA): data appended after the signed data set`
    );
  return undefined;
}

/** Find an element by tag among `elements` (sorted or not). */
export function findElement(elements: DicomElement[], tag: number): DicomElement | undefined {
  for (const e of elements) if (e.tag === tag) return e;
  return undefined;
}

/** The element's raw value bytes (defined-length elements only). */
export function valueBytes(p: { bytes: Uint8Array }, el: DicomElement): Uint8Array {
  if (el.length === UNDEFINED) return p.bytes.subarray(el.valueOffset, el.end);
  return p.bytes.subarray(el.valueOffset, el.valueOffset + el.length);
}

/** Decode a string value (latin1, trailing NUL/space removed). */
export function stringValue(p: { bytes: Uint8Array }, el: DicomElement | undefined): string | undefined {
  if (!el) return undefined;
  return Buffer.from(valueBytes(p, el))
    .toString('latin1')
    .replace(/[\0 ]+$/, '')
    .replace(/^ +/, '');
}

/** Decode a US value. */
export function usValue(p: { bytes: Uint8Array }, el: DicomElement | undefined): number | undefined {
  if (!el || el.length < 2) return undefined;
  const v = valueBytes(p, el);
  return el.littleEndian ? v[0] | (v[1] << 8) : (v[0] << 8) | v[1];
}

/** Decode AT values (pairs of uint16). */
export function atValues(p: { bytes: Uint8Array }, el: DicomElement | undefined): number[] {
  if (!el) return [];
  const v = valueBytes(p, el);
  const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
  const out: number[] = [];
  for (let i = 0; i + 4 <= v.length; i += 4)
    out.push(((dv.getUint16(i, el.littleEndian) << 16) | dv.getUint16(i + 2, el.littleEndian)) >>> 0);
  return out;
}
