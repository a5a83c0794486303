/**
 * DICOM single-image decoding to medshield's [0,1] float convention.
 *
 * Parsing is medshield's one DICOM parser (dicom-parse.ts), the byte-offset parser signature
 * verification uses: the gateway verifies and decodes the same parse result (`decodeParsedDicom`),
 * so no byte can mean one thing to the verifier and another to the decoder. Every attribute the
 * decoder reads goes through a `DicomView`, which records its tag and refuses any tag outside
 * PIXEL_AFFECTING_TAGS — the list a strict verifier requires to be signed (verify.ts), so the list
 * stays true to what the decoder uses. The pixel pipeline follows DICOM PS3.3 §C.11
 * ("Grayscale transformations"), in the standard's order:
 *   1. stored value: mask Bits Stored below High Bit, sign-extend when Pixel Representation = 1
 *      (PS3.5 §8.1.1);
 *   2. Modality LUT (C.11.1): the Modality LUT Sequence if present, else
 *      Rescale Slope · value + Rescale Intercept;
 *   3. VOI LUT (C.11.2): the first Window Center/Width with VOI LUT Function LINEAR (C.11.2.1.2.1),
 *      LINEAR_EXACT (C.11.2.1.3.2) or SIGMOID (C.11.2.1.3.1); else the first VOI LUT Sequence item;
 *      else the frame's own min/max;
 *   4. MONOCHROME1 is inverted (minimum value is white, C.7.6.3.1.2).
 * Colour images (RGB, YBR_FULL, YBR_FULL_422, PALETTE COLOR) become RGB scaled by 2^BitsStored − 1.
 */
import { badArgument, badInput, MedshieldError, unsupported } from '../errors.js';
import type { DecodedImage } from './decoded.js';
import { sniffDicom, type TransferSyntax } from './dicom-syntax.js';
import { parseDicom, tagStr, PIXEL_DATA, type DicomElement, type ParsedDicom, type Fragment } from './dicom-parse.js';
import { decodeRle } from './codecs/rle.js';
import {
  decodeJpeg2000,
  decodeJpegBaseline,
  decodeJpegLossless,
  decodeJpegLs,
  decodeJpegNoTransform,
  type CodecFrame,
} from './codecs/jpeg.js';
import { decodeJpeg12 } from './codecs/jpeg12.js';
import { jpeg2000Size, jpegFrameHeader, jpegLsFrameHeader } from './codecs/jpeg-markers.js';
import { applyLut, readLut, voiToUnit, type Lut } from './dicom-lut.js';
import { checkPixelBudget, defaultMaxPixels } from './pixel-budget.js';
import { isPixelAffecting } from './dicom-pixel-tags.js';

export interface DicomOptions {
  /** Zero-based frame of a multi-frame image (default 0). */
  frame?: number;
  /**
   * Refuse images whose rows × columns × frames exceed this (default 64 megapixels or MEDSHIELD_MAX_PIXELS), before
   * allocating.
   */
  maxPixels?: number;
}

export { PIXEL_AFFECTING_TAGS, isPixelAffecting } from './dicom-pixel-tags.js';

/**
 * Read access to one level of a parsed data set (the main data set or a sequence item) with the value
 * semantics of the `dicom-parser` package this replaced (strings cut at NUL and trimmed, multi-values
 * split at backslashes, US read in the data set's byte order). Every read of a present element records
 * the tag of the top-level element it depends on in `used`, and a read outside PIXEL_AFFECTING_TAGS is a bug.
 */
export class DicomView {
  constructor(
    readonly p: ParsedDicom,
    readonly elements: DicomElement[],
    readonly used: Set<number>,
    private readonly root?: number,
  ) {}

  /** The element for `tag` at this level (recorded). */
  element(tag: number): DicomElement | undefined {
    const top = this.root ?? tag;
    if (!isPixelAffecting(top))
      throw new MedshieldError('INTERNAL', `DICOM decoder read ${tagStr(top)}, which is not in PIXEL_AFFECTING_TAGS`);
    // Only present elements are recorded: an absent one cannot change the pixels of this parse.
    for (const e of this.elements)
      if (e.tag === tag) {
        this.used.add(top);
        return e;
      }
    return undefined;
  }

  get bytes(): Uint8Array {
    return this.p.bytes;
  }

  uint16(tag: number, index = 0): number | undefined {
    const e = this.element(tag);
    if (!e || e.length === 0 || e.length === 0xffffffff || 2 * index + 2 > e.length) return undefined;
    const b = this.p.bytes;
    const o = e.valueOffset + 2 * index;
    return e.littleEndian ? b[o] | (b[o + 1] << 8) : (b[o] << 8) | b[o + 1];
  }

  string(tag: number, index?: number): string | undefined {
    const e = this.element(tag);
    if (!e || e.length === 0 || e.length === 0xffffffff) return undefined;
    const b = this.p.bytes;
    let s = '';
    for (let i = e.valueOffset; i < e.valueOffset + e.length && b[i] !== 0; i++) s += String.fromCharCode(b[i]);
    if (index === undefined) return s.trim();
    const parts = s.split('\\');
    return index < parts.length ? parts[index].trim() : undefined;
  }

  floatString(tag: number, index = 0): number | undefined {
    const v = this.string(tag, index);
    return v === undefined ? undefined : parseFloat(v);
  }

  intString(tag: number, index = 0): number | undefined {
    const v = this.string(tag, index);
    return v === undefined ? undefined : parseInt(v, 10);
  }

  /** Items of a sequence at this level, as views (reads inside them are recorded under the top-level tag). */
  items(tag: number): DicomView[] {
    const e = this.element(tag);
    return (e?.items ?? []).map((it) => new DicomView(this.p, it.elements, this.used, this.root ?? tag));
  }
}

/** Parsed header facts needed to decode pixels. */
export interface DicomHeader {
  rows: number;
  cols: number;
  spp: number;
  bitsAllocated: number;
  bitsStored: number;
  highBit: number;
  signed: boolean;
  photometric: string;
  planar: number;
  frames: number;
}

/** Parse with medshield's DICOM parser (deflated data sets are inflated), naming the file in errors. */
export function parseDicomBytes(bytes: Uint8Array, name: string): ParsedDicom {
  if (sniffDicom(bytes) === null)
    throw badInput(`${name}: not a DICOM file (no DICM prefix and no recognisable data set)`);
  try {
    return parseDicom(bytes, { inflate: true });
  } catch (e) {
    if (e instanceof MedshieldError)
      throw new MedshieldError(
        e.code,
        `${name}: ${e.code === 'BAD_INPUT' ? 'truncated or corrupt DICOM (' + e.message + ')' : e.message}`,
        { cause: e },
      );
    throw e;
  }
}

function readHeader(ds: DicomView, name: string): DicomHeader {
  const need = (tag: number, what: string): number => {
    const v = ds.uint16(tag);
    if (v === undefined) throw badInput(`${name}: DICOM has no ${what} ${tagStr(tag)}`);
    return v;
  };
  const rows = need(0x00280010, 'Rows');
  const cols = need(0x00280011, 'Columns');
  const bitsAllocated = need(0x00280100, 'Bits Allocated');
  const bitsStored = ds.uint16(0x00280101) ?? bitsAllocated;
  const h: DicomHeader = {
    rows,
    cols,
    bitsAllocated,
    bitsStored,
    spp: ds.uint16(0x00280002) ?? 1,
    highBit: ds.uint16(0x00280102) ?? bitsStored - 1,
    signed: (ds.uint16(0x00280103) ?? 0) === 1,
    photometric: (ds.string(0x00280004) ?? (ds.uint16(0x00280002) === 3 ? 'RGB' : 'MONOCHROME2')).toUpperCase(),
    planar: ds.uint16(0x00280006) ?? 0,
    frames: Math.max(1, ds.intString(0x00280008) || 1),
  };
  if (rows === 0 || cols === 0) throw badInput(`${name}: DICOM image is empty (${rows}×${cols})`);
  if (![8, 16, 32].includes(bitsAllocated))
    throw unsupported(`${name}: DICOM Bits Allocated ${bitsAllocated} is not supported (8, 16 or 32)`);
  if (bitsStored < 1 || bitsStored > bitsAllocated || h.highBit < bitsStored - 1 || h.highBit >= bitsAllocated) {
    throw badInput(
      `${name}: inconsistent DICOM bit layout (allocated ` +
        `${bitsAllocated}, stored ${bitsStored}, high bit ${h.highBit})`,
    );
  }
  if (h.spp !== 1 && h.spp !== 3)
    throw unsupported(`${name}: DICOM Samples per Pixel ${h.spp} is not supported (1 or 3)`);
  return h;
}

/** Native (uncompressed) frame → raw words, pixel-interleaved (PS3.5 §8.1). */
function nativeFrame(
  b: Uint8Array,
  el: DicomElement,
  h: DicomHeader,
  ts: TransferSyntax,
  frame: number,
  name: string,
): Uint32Array {
  const bytesPer = h.bitsAllocated / 8;
  // Native YBR_FULL_422 stores two luma samples per chroma pair: Y1 Y2 Cb Cr (PS3.3 C.7.6.3.1.2).
  const subsampled = h.spp === 3 && h.photometric === 'YBR_FULL_422';
  if (subsampled && h.cols % 2 !== 0)
    throw badInput(`${name}: native YBR_FULL_422 needs an even number of columns, got ${h.cols}`);
  const n = subsampled ? h.rows * h.cols * 2 : h.rows * h.cols * h.spp;
  const frameBytes = n * bytesPer;
  const start = el.valueOffset + frame * frameBytes;
  const available = Math.min(b.length, el.valueOffset + el.length) - start;
  if (available < frameBytes) {
    throw badInput(
      `${name}: truncated DICOM pixel data: frame ${frame} needs ` +
        `${frameBytes} bytes, ${Math.max(0, available)} present`,
    );
  }
  const out = new Uint32Array(n);
  const le = ts.littleEndian;
  if (bytesPer === 1) {
    // 8-bit samples in an OW element of a big-endian stream are byte-swapped in pairs (PS3.5 §8.1.1).
    const swap = !le && el.vr === 'OW';
    for (let i = 0; i < n; i++) out[i] = b[start + (swap ? i ^ 1 : i)];
  } else if (bytesPer === 2) {
    for (let i = 0, p = start; i < n; i++, p += 2) out[i] = le ? b[p] | (b[p + 1] << 8) : (b[p] << 8) | b[p + 1];
  } else {
    for (let i = 0, p = start; i < n; i++, p += 4) {
      out[i] =
        (le
          ? b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)
          : (b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
    }
  }
  if (subsampled) return expandYbr422(out, h.rows * h.cols);
  return h.spp === 3 && h.planar === 1 ? planarToInterleaved(out, h.rows * h.cols) : out;
}

/** Y1 Y2 Cb Cr groups → per-pixel Y Cb Cr (chroma replicated to both pixels of the pair). */
function expandYbr422(words: Uint32Array, nPixels: number): Uint32Array {
  const out = new Uint32Array(nPixels * 3);
  for (let g = 0; g < nPixels / 2; g++) {
    const [y1, y2, cb, cr] = [words[4 * g], words[4 * g + 1], words[4 * g + 2], words[4 * g + 3]];
    out.set([y1, cb, cr, y2, cb, cr], 6 * g);
  }
  return out;
}

function planarToInterleaved(words: Uint32Array, nPixels: number): Uint32Array {
  const out = new Uint32Array(words.length);
  for (let p = 0; p < nPixels; p++) for (let k = 0; k < 3; k++) out[3 * p + k] = words[k * nPixels + p];
  return out;
}

/** The compressed bytes of one frame of encapsulated Pixel Data (PS3.5 §A.4); fragment 0 is the Basic Offset Table. */
function encapsulatedFrame(b: Uint8Array, el: DicomElement, h: DicomHeader, frame: number, name: string): Uint8Array {
  const all = el.fragments ?? [];
  const botFrag = all[0];
  const fragments = all.slice(1);
  if (fragments.length === 0) throw badInput(`${name}: encapsulated DICOM pixel data has no fragments`);
  const concat = (fs: Fragment[]): Uint8Array => {
    if (fs.length === 1) return b.slice(fs[0].valueOffset, fs[0].valueOffset + fs[0].length);
    const out = new Uint8Array(fs.reduce((a, f) => a + f.length, 0));
    let o = 0;
    for (const f of fs) {
      out.set(b.subarray(f.valueOffset, f.valueOffset + f.length), o);
      o += f.length;
    }
    return out;
  };
  if (h.frames === 1) return concat(fragments);
  const bot: number[] = [];
  if (botFrag && botFrag.length >= 4) {
    const dv = new DataView(b.buffer, b.byteOffset + botFrag.valueOffset, botFrag.length);
    for (let i = 0; i + 4 <= botFrag.length; i += 4) bot.push(dv.getUint32(i, true));
  }
  // Without an offset table, one fragment per frame is the common (and for RLE, the required) layout.
  if (!bot.length && fragments.length === h.frames) return concat([fragments[frame]]);
  // Offsets of fragment items relative to the first fragment after the offset table (PS3.5 A.4).
  const base = fragments[0].start;
  const offsets = fragments.map((f) => f.start - base);
  let starts: number[];
  if (bot.length) starts = bot;
  else {
    // No table: a JPEG frame ends with an EOI marker (FFD9, possibly followed by one pad byte).
    starts = [0];
    fragments.forEach((f, i) => {
      const end = f.valueOffset + f.length;
      const eoi = (k: number): boolean => b[end - k] === 0xff && b[end - k + 1] === 0xd9;
      if ((eoi(2) || eoi(3)) && i + 1 < fragments.length) starts.push(offsets[i + 1]);
    });
  }
  if (frame >= starts.length)
    throw badInput(`${name}: corrupt encapsulated DICOM pixel data (no fragments for frame ${frame})`);
  const first = offsets.indexOf(starts[frame]);
  const last = frame + 1 < starts.length ? offsets.indexOf(starts[frame + 1]) : fragments.length;
  if (first < 0 || last <= first)
    throw badInput(`${name}: corrupt encapsulated DICOM pixel data (the offset table does not match the fragments)`);
  return concat(fragments.slice(first, last));
}

async function decodeCompressed(
  data: Uint8Array,
  h: DicomHeader,
  ts: TransferSyntax,
  name: string,
): Promise<Uint32Array> {
  let f: CodecFrame;
  // The codestream's own size must be the header's (which the pixel budget checked) before a codec allocates.
  if (ts.encoding === 'jpeg-baseline' || ts.encoding === 'jpeg-lossless') {
    const sof = jpegFrameHeader(data);
    if (sof !== null && (sof.width !== h.cols || (sof.height !== 0 && sof.height !== h.rows))) {
      throw badInput(`${name}: compressed pixel data is ${sof.width}×${sof.height}, header says ${h.cols}×${h.rows}`);
    }
  }
  if (ts.encoding === 'jpeg-ls' || ts.encoding === 'jpeg2000') {
    const size = ts.encoding === 'jpeg-ls' ? jpegLsFrameHeader(data) : jpeg2000Size(data);
    if (size === null) throw badInput(`${name}: corrupt ${ts.name} pixel data (no frame size marker)`);
    if (size.width !== h.cols || (size.height !== 0 && size.height !== h.rows)) {
      throw badInput(`${name}: compressed pixel data is ${size.width}×${size.height}, header says ${h.cols}×${h.rows}`);
    }
  }
  switch (ts.encoding) {
    case 'rle':
      return decodeRle(data, h.rows, h.cols, h.spp, h.bitsAllocated, name);
    case 'jpeg-baseline':
      f = await decodeJpegDct(data, h, name);
      break;
    case 'jpeg-lossless':
      f = decodeJpegLossless(data, h.bitsAllocated, name);
      break;
    case 'jpeg-ls':
      f = await decodeJpegLs(data, name);
      break;
    case 'jpeg2000':
      f = await decodeJpeg2000(data, name);
      break;
    default:
      throw unsupported(`${name}: DICOM transfer syntax ${ts.uid} (${ts.name}) is not supported`);
  }
  if (f.width === 0 || f.height === 0) throw badInput(`${name}: corrupt ${ts.name} pixel data (nothing decoded)`);
  if (f.width !== h.cols || f.height !== h.rows || f.components !== h.spp) {
    throw badInput(
      `${name}: compressed pixel data is ${f.width}×${f.height}×` +
        `${f.components}, header says ${h.cols}×${h.rows}×${h.spp}`,
    );
  }
  return f.words;
}

/**
 * JPEG DCT processes (baseline, extended): 8-bit through libjpeg-turbo, except colour stored with
 * Photometric Interpretation RGB, whose components were never colour-transformed (PS3.5 §8.2.1):
 * libjpeg-turbo would treat them as YCbCr, so those go through jpeg-js with the transform off.
 * 12-bit (extended process 4) through our own decoder.
 */
async function decodeJpegDct(data: Uint8Array, h: DicomHeader, name: string): Promise<CodecFrame> {
  const sof = jpegFrameHeader(data);
  if (sof === null) throw badInput(`${name}: corrupt JPEG pixel data (no frame header)`);
  if (sof.precision > 8) return decodeJpeg12(data, name);
  if (sof.components === 3 && h.photometric === 'RGB') return decodeJpegNoTransform(data, name);
  return decodeJpegBaseline(data, name);
}

/** Stored value (PS3.5 §8.1.1): bits [highBit−bitsStored+1, highBit], two's complement when signed. */
function storedValues(words: Uint32Array, h: DicomHeader, native: boolean): Float64Array {
  const shift = native ? h.highBit - h.bitsStored + 1 : 0;
  const range = 2 ** h.bitsStored;
  const half = range / 2;
  const out = new Float64Array(words.length);
  for (let i = 0; i < words.length; i++) {
    let v = (words[i] / 2 ** shift) % range;
    v = Math.floor(v);
    if (h.signed && v >= half) v -= range;
    out[i] = v;
  }
  return out;
}

const firstNumber = (ds: DicomView, tag: number): number | undefined => {
  const v = ds.floatString(tag, 0);
  return v === undefined || Number.isNaN(v) ? undefined : v;
};

/** One frame's stored values (after Bits Stored masking and sign extension, before any LUT). */
export interface DicomFrame {
  /** The parse result and the recorded reads (`view.used`: top-level tags the decoder depended on). */
  view: DicomView;
  header: DicomHeader;
  syntax: TransferSyntax;
  frame: number;
  /** Stored values, pixel-interleaved, rows·cols·samplesPerPixel. */
  stored: Float64Array;
  /** Colour already converted to RGB by the codec (JPEG DCT, JPEG 2000). */
  codecRgb: boolean;
}

/** Parse a DICOM file and decode one frame (default 0) to stored values. */
export async function readDicomFrame(bytes: Uint8Array, name = 'DICOM', opts: DicomOptions = {}): Promise<DicomFrame> {
  return readParsedFrame(parseDicomBytes(bytes, name), name, opts);
}

/** Decode one frame of an already parsed file (the gateway decodes the very parse it verified). */
export async function readParsedFrame(p: ParsedDicom, name = 'DICOM', opts: DicomOptions = {}): Promise<DicomFrame> {
  const ds = new DicomView(p, p.dataset, new Set());
  const el = ds.element(PIXEL_DATA);
  if (el === undefined) {
    if (ds.element(0x7fe00008) || ds.element(0x7fe00009))
      throw unsupported(`${name}: DICOM float pixel data is not supported`);
    throw badInput(`${name}: no Pixel Data (7FE0,0010): truncated DICOM or not an image`);
  }
  const h = readHeader(ds, name);
  checkPixelBudget(h.cols, h.rows, h.frames, opts.maxPixels ?? defaultMaxPixels(), name);
  const ts = p.ts;
  const frame = opts.frame ?? 0;
  if (!Number.isInteger(frame) || frame < 0 || frame >= h.frames) {
    throw badArgument(
      `${name}: frame ${frame} out of range (the image has ${h.frames} frame${h.frames === 1 ? '' : 's'})`,
    );
  }
  if (ts.encoding === 'unsupported')
    throw unsupported(`${name}: DICOM transfer syntax ${ts.uid} (${ts.name}) is not supported`);
  const encapsulated = el.fragments !== undefined;
  if (ts.encoding !== 'native' && !encapsulated) throw badInput(`${name}: ${ts.name} pixel data is not encapsulated`);
  if (ts.encoding === 'native' && encapsulated)
    throw badInput(`${name}: ${ts.name} pixel data must not be encapsulated`);
  const words =
    ts.encoding === 'native'
      ? nativeFrame(p.bytes, el, h, ts, frame, name)
      : await decodeCompressed(encapsulatedFrame(p.bytes, el, h, frame, name), h, ts, name);
  // JPEG codecs return colour already converted to RGB (libjpeg converts YCbCr; OpenJPEG applies the inverse RCT/ICT).
  const codecRgb = ts.encoding === 'jpeg-baseline' || ts.encoding === 'jpeg2000';
  return { view: ds, header: h, syntax: ts, frame, stored: storedValues(words, h, ts.encoding === 'native'), codecRgb };
}

/**
 * Decode a DICOM file's pixels (frame 0 unless `opts.frame`) to a [0,1] HWC float image.
 * Throws one-line MedshieldErrors for corrupt/truncated files and unsupported encodings.
 */
export async function decodeDicom(bytes: Uint8Array, name = 'DICOM', opts: DicomOptions = {}): Promise<DecodedImage> {
  return (await decodeParsedDicom(parseDicomBytes(bytes, name), name, opts)).image;
}

/**
 * Decode an already parsed DICOM file; also returns the top-level tags the decoded image depends on
 * (`used`), which a verifier can check are all signed.
 */
export async function decodeParsedDicom(
  p: ParsedDicom,
  name = 'DICOM',
  opts: DicomOptions = {},
): Promise<{ image: DecodedImage; used: Set<number> }> {
  const { view: ds, header: h, syntax: ts, frame, stored, codecRgb } = await readParsedFrame(p, name, opts);
  const modalityEl = p.dataset.find((e) => e.tag === 0x00080060);
  const modality =
    modalityEl && modalityEl.length > 0
      ? Buffer.from(p.bytes.subarray(modalityEl.valueOffset, modalityEl.valueOffset + modalityEl.length))
          .toString('latin1')
          .split('\0')[0]
          .trim()
      : undefined;
  const base = {
    format: 'dicom' as const,
    bitDepth: h.bitsStored,
    colour: h.photometric,
    transferSyntax: ts.uid,
    transferSyntaxName: ts.name,
    modality,
    frames: h.frames,
    frame,
  };
  const image = decodePixels(ds, h, stored, codecRgb, base, name);
  return { image, used: ds.used };
}

function decodePixels(
  ds: DicomView,
  h: DicomHeader,
  stored: Float64Array,
  codecRgb: boolean,
  base: DecodedImage['source'],
  name: string,
): DecodedImage {
  const hw = h.rows * h.cols;
  if (h.photometric === 'PALETTE COLOR') {
    const luts = ([0x00281101, 0x00281102, 0x00281103] as const).map((d, k) =>
      readLut(ds, d, [0x00281201, 0x00281202, 0x00281203][k], h.signed, name),
    );
    const data = new Float32Array(hw * 3);
    for (let p = 0; p < hw; p++)
      for (let k = 0; k < 3; k++) data[3 * p + k] = applyLut(luts[k], stored[p]) / (2 ** luts[k].bits - 1);
    return {
      width: h.cols,
      height: h.rows,
      channels: 3,
      data,
      source: { ...base, voi: { kind: 'lut', entries: luts[0].data.length } },
    };
  }
  if (h.spp === 3) {
    const max = 2 ** h.bitsStored - 1;
    const data = new Float32Array(hw * 3);
    const ybr = !codecRgb && h.photometric.startsWith('YBR_FULL');
    const mid = 2 ** (h.bitsStored - 1);
    for (let p = 0; p < hw; p++) {
      let r = stored[3 * p],
        g = stored[3 * p + 1],
        b = stored[3 * p + 2];
      if (ybr) {
        // YCbCr → RGB, PS3.3 C.7.6.3.1.2 (ITU-R BT.601 full range).
        const y = r,
          cb = g - mid,
          cr = b - mid;
        r = y + 1.402 * cr;
        g = y - 0.344136 * cb - 0.714136 * cr;
        b = y + 1.772 * cb;
      }
      data[3 * p] = clamp01(r / max);
      data[3 * p + 1] = clamp01(g / max);
      data[3 * p + 2] = clamp01(b / max);
    }
    return { width: h.cols, height: h.rows, channels: 3, data, source: { ...base, voi: { kind: 'fullscale', max } } };
  }
  if (!h.photometric.startsWith('MONOCHROME'))
    throw unsupported(
      `${name}: DICOM Photometric Interpretation ${h.photometric} with 1 sample per pixel is not supported`,
    );

  // Modality LUT (C.11.1).
  let modality: Float64Array;
  let rescale: { slope: number; intercept: number } | { lut: number };
  const modalityLutSeq = ds.items(0x00283000)[0];
  if (modalityLutSeq) {
    const lut: Lut = readLut(modalityLutSeq, 0x00283002, 0x00283006, h.signed, name);
    modality = stored.map((v) => applyLut(lut, v));
    rescale = { lut: lut.data.length };
  } else {
    const slope = firstNumber(ds, 0x00281053) ?? 1;
    const intercept = firstNumber(ds, 0x00281052) ?? 0;
    modality = slope === 1 && intercept === 0 ? stored : stored.map((v) => v * slope + intercept);
    rescale = { slope, intercept };
  }
  const { values, voi } = voiToUnit(ds, modality, name);
  const inverted = h.photometric === 'MONOCHROME1';
  const data = new Float32Array(hw);
  for (let i = 0; i < hw; i++) data[i] = inverted ? 1 - values[i] : values[i];
  return { width: h.cols, height: h.rows, channels: 1, data, source: { ...base, rescale, voi, inverted } };
}

const clamp01 = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);
