/**
 * DICOM single-image decoding to medshield's [0,1] float convention.
 *
 * Parsing uses the maintained `dicom-parser` package (Part 10 files, and bare ACR-NEMA-style data
 * sets via its default-transfer-syntax option). The pixel pipeline follows DICOM PS3.3 §C.11
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
import { createRequire } from 'node:module';
import { inflateRawSync } from 'node:zlib';
import type { DataSet, Element, ParseDicomOptions } from 'dicom-parser';
import { badArgument, badInput, oneLine, unsupported } from '../errors.js';
import type { DecodedImage } from './decoded.js';
import { sniffDicom, transferSyntax, type TransferSyntax } from './dicom-syntax.js';
import { decodeRle } from './codecs/rle.js';
import { decodeJpeg2000, decodeJpegBaseline, decodeJpegLossless, decodeJpegLs, decodeJpegNoTransform, type CodecFrame } from './codecs/jpeg.js';
import { decodeJpeg12 } from './codecs/jpeg12.js';
import { jpegFrameHeader } from './codecs/jpeg-markers.js';
import { applyLut, readLut, voiToUnit, type Lut } from './dicom-lut.js';

const require = createRequire(import.meta.url);
type DicomParserModule = typeof import('dicom-parser');
let parserModule: DicomParserModule | undefined;
const dicomParser = (): DicomParserModule => (parserModule ??= require('dicom-parser') as DicomParserModule);

export interface DicomOptions {
  /** Zero-based frame of a multi-frame image (default 0). */
  frame?: number;
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

/** Parse with dicom-parser, turning its string / {exception} throws into one-line badInput errors. */
export function parseDicomBytes(bytes: Uint8Array, name: string): DataSet {
  const kind = sniffDicom(bytes);
  if (kind === null) throw badInput(`${name}: not a DICOM file (no DICM prefix and no recognisable data set)`);
  const dp = dicomParser();
  try {
    // Deflated Explicit VR LE (PS3.5 §A.5): the data set after the meta header is raw deflate.
    const inflater = (arr: Uint8Array, position: number): Uint8Array => {
      const inflated = inflateRawSync(arr.subarray(position), { maxOutputLength: 2 ** 31 - 1 });
      const full = new Uint8Array(position + inflated.length);
      full.set(arr.subarray(0, position));
      full.set(inflated, position);
      return full;
    };
    const options = { ...(kind.part10 ? {} : { TransferSyntaxUID: kind.syntax }), inflater } as unknown as ParseDicomOptions;
    return dp.parseDicom(bytes, options);
  } catch (e) {
    const inner = (e as { exception?: unknown })?.exception ?? e;
    const raw = oneLine(inner).replace(/^dicomParser[.:]\w*:\s*/, '');
    const msg = /overrun|past end|beyond|end of buffer/i.test(raw) ? 'an element runs past the end of the file' : raw;
    throw badInput(`${name}: truncated or corrupt DICOM (${msg})`, e);
  }
}

function readHeader(ds: DataSet, name: string): DicomHeader {
  const need = (tag: string, what: string): number => {
    const v = ds.uint16(tag);
    if (v === undefined) throw badInput(`${name}: DICOM has no ${what} (${tag.slice(1, 5)},${tag.slice(5)})`);
    return v;
  };
  const rows = need('x00280010', 'Rows');
  const cols = need('x00280011', 'Columns');
  const bitsAllocated = need('x00280100', 'Bits Allocated');
  const bitsStored = ds.uint16('x00280101') ?? bitsAllocated;
  const h: DicomHeader = {
    rows, cols, bitsAllocated, bitsStored,
    spp: ds.uint16('x00280002') ?? 1,
    highBit: ds.uint16('x00280102') ?? bitsStored - 1,
    signed: (ds.uint16('x00280103') ?? 0) === 1,
    photometric: (ds.string('x00280004') ?? (ds.uint16('x00280002') === 3 ? 'RGB' : 'MONOCHROME2')).toUpperCase(),
    planar: ds.uint16('x00280006') ?? 0,
    frames: Math.max(1, ds.intString('x00280008') ?? 1),
  };
  if (rows === 0 || cols === 0) throw badInput(`${name}: DICOM image is empty (${rows}×${cols})`);
  if (![8, 16, 32].includes(bitsAllocated)) throw unsupported(`${name}: DICOM Bits Allocated ${bitsAllocated} is not supported (8, 16 or 32)`);
  if (bitsStored < 1 || bitsStored > bitsAllocated || h.highBit < bitsStored - 1 || h.highBit >= bitsAllocated) {
    throw badInput(`${name}: inconsistent DICOM bit layout (allocated ${bitsAllocated}, stored ${bitsStored}, high bit ${h.highBit})`);
  }
  if (h.spp !== 1 && h.spp !== 3) throw unsupported(`${name}: DICOM Samples per Pixel ${h.spp} is not supported (1 or 3)`);
  return h;
}

/** Native (uncompressed) frame → raw words, pixel-interleaved (PS3.5 §8.1). */
function nativeFrame(ds: DataSet, el: Element, h: DicomHeader, ts: TransferSyntax, frame: number, name: string): Uint32Array {
  const bytesPer = h.bitsAllocated / 8;
  // Native YBR_FULL_422 stores two luma samples per chroma pair: Y1 Y2 Cb Cr (PS3.3 C.7.6.3.1.2).
  const subsampled = h.spp === 3 && h.photometric === 'YBR_FULL_422';
  if (subsampled && h.cols % 2 !== 0) throw badInput(`${name}: native YBR_FULL_422 needs an even number of columns, got ${h.cols}`);
  const n = subsampled ? h.rows * h.cols * 2 : h.rows * h.cols * h.spp;
  const frameBytes = n * bytesPer;
  const start = el.dataOffset + frame * frameBytes;
  const available = Math.min(ds.byteArray.length, el.dataOffset + el.length) - start;
  if (available < frameBytes) {
    throw badInput(`${name}: truncated DICOM pixel data: frame ${frame} needs ${frameBytes} bytes, ${Math.max(0, available)} present`);
  }
  const b = ds.byteArray;
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
      out[i] = (le ? b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24) : (b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
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

/** The compressed bytes of one frame of encapsulated Pixel Data (PS3.5 §A.4). */
function encapsulatedFrame(ds: DataSet, el: Element, h: DicomHeader, frame: number, name: string): Uint8Array {
  const dp = dicomParser();
  const fragments = el.fragments ?? [];
  if (fragments.length === 0) throw badInput(`${name}: encapsulated DICOM pixel data has no fragments`);
  for (const f of fragments) {
    if (f.position + f.length > ds.byteArray.length) throw badInput(`${name}: truncated DICOM pixel data (fragment runs past the end of the file)`);
  }
  try {
    if (h.frames === 1) return new Uint8Array(dp.readEncapsulatedPixelDataFromFragments(ds, el, 0, fragments.length));
    const hasBot = el.basicOffsetTable !== undefined && el.basicOffsetTable.length > 0;
    // Without an offset table, one fragment per frame is the common (and for RLE, the required) layout.
    if (!hasBot && fragments.length === h.frames) return new Uint8Array(dp.readEncapsulatedPixelDataFromFragments(ds, el, frame, 1));
    const bot = hasBot ? (el.basicOffsetTable as number[]) : dp.createJPEGBasicOffsetTable(ds, el);
    return new Uint8Array(dp.readEncapsulatedImageFrame(ds, el, frame, bot));
  } catch (e) {
    throw badInput(`${name}: corrupt encapsulated DICOM pixel data (${oneLine(e)})`, e);
  }
}

async function decodeCompressed(data: Uint8Array, h: DicomHeader, ts: TransferSyntax, name: string): Promise<Uint32Array> {
  let f: CodecFrame;
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
    throw badInput(`${name}: compressed pixel data is ${f.width}×${f.height}×${f.components}, header says ${h.cols}×${h.rows}×${h.spp}`);
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

const firstNumber = (ds: DataSet, tag: string): number | undefined => {
  const v = ds.floatString(tag, 0);
  return v === undefined || Number.isNaN(v) ? undefined : v;
};

/** One frame's stored values (after Bits Stored masking and sign extension, before any LUT). */
export interface DicomFrame {
  dataSet: DataSet;
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
  const ds = parseDicomBytes(bytes, name);
  const el = ds.elements.x7fe00010;
  if (el === undefined) {
    if (ds.elements.x7fe00008 || ds.elements.x7fe00009) throw unsupported(`${name}: DICOM float pixel data is not supported`);
    throw badInput(`${name}: no Pixel Data (7FE0,0010): truncated DICOM or not an image`);
  }
  const h = readHeader(ds, name);
  const ts = transferSyntax(ds.string('x00020010') ?? '1.2.840.10008.1.2');
  const frame = opts.frame ?? 0;
  if (!Number.isInteger(frame) || frame < 0 || frame >= h.frames) {
    throw badArgument(`${name}: frame ${frame} out of range (the image has ${h.frames} frame${h.frames === 1 ? '' : 's'})`);
  }
  if (ts.encoding === 'unsupported') throw unsupported(`${name}: DICOM transfer syntax ${ts.uid} (${ts.name}) is not supported`);
  const encapsulated = el.encapsulatedPixelData === true || el.hadUndefinedLength === true;
  if (ts.encoding !== 'native' && !encapsulated) throw badInput(`${name}: ${ts.name} pixel data is not encapsulated`);
  const words = ts.encoding === 'native'
    ? nativeFrame(ds, el, h, ts, frame, name)
    : await decodeCompressed(encapsulatedFrame(ds, el, h, frame, name), h, ts, name);
  // JPEG codecs return colour already converted to RGB (libjpeg converts YCbCr; OpenJPEG applies the inverse RCT/ICT).
  const codecRgb = ts.encoding === 'jpeg-baseline' || ts.encoding === 'jpeg2000';
  return { dataSet: ds, header: h, syntax: ts, frame, stored: storedValues(words, h, ts.encoding === 'native'), codecRgb };
}

/**
 * Decode a DICOM file's pixels (frame 0 unless `opts.frame`) to a [0,1] HWC float image.
 * Throws one-line MedshieldErrors for corrupt/truncated files and unsupported encodings.
 */
export async function decodeDicom(bytes: Uint8Array, name = 'DICOM', opts: DicomOptions = {}): Promise<DecodedImage> {
  const { dataSet: ds, header: h, syntax: ts, frame, stored, codecRgb } = await readDicomFrame(bytes, name, opts);
  const base = {
    format: 'dicom' as const, bitDepth: h.bitsStored, colour: h.photometric, transferSyntax: ts.uid, transferSyntaxName: ts.name,
    modality: ds.string('x00080060'), frames: h.frames, frame,
  };
  const hw = h.rows * h.cols;
  if (h.photometric === 'PALETTE COLOR') {
    const luts = (['x00281101', 'x00281102', 'x00281103'] as const).map((d, k) => readLut(ds, d, ['x00281201', 'x00281202', 'x00281203'][k], h.signed, name));
    const data = new Float32Array(hw * 3);
    for (let p = 0; p < hw; p++) for (let k = 0; k < 3; k++) data[3 * p + k] = applyLut(luts[k], stored[p]) / (2 ** luts[k].bits - 1);
    return { width: h.cols, height: h.rows, channels: 3, data, source: { ...base, voi: { kind: 'lut', entries: luts[0].data.length } } };
  }
  if (h.spp === 3) {
    const max = 2 ** h.bitsStored - 1;
    const data = new Float32Array(hw * 3);
    const ybr = !codecRgb && h.photometric.startsWith('YBR_FULL');
    const mid = 2 ** (h.bitsStored - 1);
    for (let p = 0; p < hw; p++) {
      let r = stored[3 * p], g = stored[3 * p + 1], b = stored[3 * p + 2];
      if (ybr) {
        // YCbCr → RGB, PS3.3 C.7.6.3.1.2 (ITU-R BT.601 full range).
        const y = r, cb = g - mid, cr = b - mid;
        r = y + 1.402 * cr; g = y - 0.344136 * cb - 0.714136 * cr; b = y + 1.772 * cb;
      }
      data[3 * p] = clamp01(r / max); data[3 * p + 1] = clamp01(g / max); data[3 * p + 2] = clamp01(b / max);
    }
    return { width: h.cols, height: h.rows, channels: 3, data, source: { ...base, voi: { kind: 'fullscale', max } } };
  }
  if (!h.photometric.startsWith('MONOCHROME')) throw unsupported(`${name}: DICOM Photometric Interpretation ${h.photometric} with 1 sample per pixel is not supported`);

  // Modality LUT (C.11.1).
  let modality: Float64Array;
  let rescale: { slope: number; intercept: number } | { lut: number };
  const modalityLutSeq = ds.elements.x00283000?.items?.[0]?.dataSet;
  if (modalityLutSeq) {
    const lut: Lut = readLut(modalityLutSeq, 'x00283002', 'x00283006', h.signed, name);
    modality = stored.map((v) => applyLut(lut, v));
    rescale = { lut: lut.data.length };
  } else {
    const slope = firstNumber(ds, 'x00281053') ?? 1;
    const intercept = firstNumber(ds, 'x00281052') ?? 0;
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
