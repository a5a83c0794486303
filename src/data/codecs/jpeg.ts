/**
 * Compressed-pixel codecs for DICOM encapsulated transfer syntaxes (PS3.5 §8.2, Annex A.4), backed by
 * maintained npm packages that ship their WebAssembly (nothing is downloaded at install time):
 *
 * - JPEG baseline / extended 8-bit (ISO 10918-1 processes 1, 2/4): `@cornerstonejs/codec-libjpeg-turbo-8bit`
 * - JPEG lossless (ISO 10918-1 process 14, incl. selection value 1): `jpeg-lossless-decoder-js`
 * - JPEG-LS (ISO 14495-1): `@cornerstonejs/codec-charls` (CharLS)
 * - JPEG 2000 (ISO 15444-1): `@cornerstonejs/codec-openjpeg` (OpenJPEG)
 *
 * Every decoder returns raw sample words, pixel-interleaved, as the codec produced them; sign and
 * Bits Stored handling happen in one place (dicom.ts).
 */
import { createRequire } from 'node:module';
import { badInput, oneLine } from '../../errors.js';

const require = createRequire(import.meta.url);

export interface CodecFrame {
  width: number;
  height: number;
  components: number;
  bitsPerSample: number;
  /** Raw samples, interleaved per pixel, length width·height·components. */
  words: Uint32Array;
}

interface WasmFrameInfo {
  width: number;
  height: number;
  bitsPerSample: number;
  componentCount: number;
  isSigned?: boolean;
}
interface WasmDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  decode(): void;
  getFrameInfo(): WasmFrameInfo;
  getDecodedBuffer(): Uint8Array;
  getInterleaveMode?(): number;
  delete(): void;
}
type WasmModule = Record<string, new () => WasmDecoder>;

const modules = new Map<string, Promise<WasmModule>>();

/** Load (once) an Emscripten codec module shipped by an npm package. */
function loadModule(specifier: string): Promise<WasmModule> {
  let m = modules.get(specifier);
  if (m === undefined) {
    const factory = require(specifier) as (opts?: object) => Promise<WasmModule>;
    // Emscripten prints aborts to stderr by default; keep the one-line error contract.
    m = factory({ print: () => undefined, printErr: () => undefined });
    modules.set(specifier, m);
  }
  return m;
}

async function runWasm(
  specifier: string,
  cls: string,
  data: Uint8Array,
  what: string,
  name: string,
): Promise<{ info: WasmFrameInfo; bytes: Uint8Array; interleave: number }> {
  const mod = await loadModule(specifier);
  const decoder = new mod[cls]();
  try {
    decoder.getEncodedBuffer(data.length).set(data);
    decoder.decode();
    const info = decoder.getFrameInfo();
    const interleave = decoder.getInterleaveMode ? decoder.getInterleaveMode() : 2;
    const bytes = decoder.getDecodedBuffer().slice(); // copy out of the wasm heap before delete()
    return { info: { ...info }, bytes, interleave };
  } catch (e) {
    throw badInput(`${name}: corrupt ${what} pixel data (${describeWasmError(e)})`, e);
  } finally {
    decoder.delete();
  }
}

function describeWasmError(e: unknown): string {
  if (typeof e === 'number') return 'the codec rejected the bitstream';
  return oneLine(e).slice(0, 120);
}

/** Decoded bytes → words: 8-bit samples are bytes, deeper ones 16-bit little-endian words. */
function toWords(bytes: Uint8Array, bitsPerSample: number): Uint32Array {
  if (bitsPerSample <= 8) return Uint32Array.from(bytes);
  const n = bytes.length >> 1;
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = bytes[2 * i] | (bytes[2 * i + 1] << 8);
  return out;
}

/** Reorder JPEG-LS planar (interleave mode 0) or line-interleaved (mode 1) samples to pixel-interleaved. */
function interleave(words: Uint32Array, w: number, h: number, c: number, mode: number): Uint32Array {
  if (c === 1 || mode === 2) return words;
  const out = new Uint32Array(words.length);
  for (let y = 0; y < h; y++) {
    for (let k = 0; k < c; k++) {
      for (let x = 0; x < w; x++) {
        const src = mode === 0 ? (k * h + y) * w + x : (y * c + k) * w + x;
        out[(y * w + x) * c + k] = words[src];
      }
    }
  }
  return out;
}

function checkSize(f: CodecFrame, what: string, name: string): CodecFrame {
  if (f.words.length < f.width * f.height * f.components) {
    throw badInput(
      `${name}: corrupt ${what} pixel data (decoded ${f.words.length}` +
        ` samples, expected ${f.width * f.height * f.components})`,
    );
  }
  return f;
}

/** JPEG baseline / extended (8-bit samples) through libjpeg-turbo. Colour output is RGB. */
export async function decodeJpegBaseline(data: Uint8Array, name: string): Promise<CodecFrame> {
  const { info, bytes } = await runWasm(
    '@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs',
    'JPEGDecoder',
    data,
    'JPEG',
    name,
  );
  return checkSize(
    {
      width: info.width,
      height: info.height,
      components: info.componentCount,
      bitsPerSample: 8,
      words: toWords(bytes, 8),
    },
    'JPEG',
    name,
  );
}

/** JPEG-LS lossless / near-lossless through CharLS. */
export async function decodeJpegLs(data: Uint8Array, name: string): Promise<CodecFrame> {
  const {
    info,
    bytes,
    interleave: mode,
  } = await runWasm('@cornerstonejs/codec-charls/decodewasmjs', 'JpegLSDecoder', data, 'JPEG-LS', name);
  const words = interleave(toWords(bytes, info.bitsPerSample), info.width, info.height, info.componentCount, mode);
  return checkSize(
    {
      width: info.width,
      height: info.height,
      components: info.componentCount,
      bitsPerSample: info.bitsPerSample,
      words,
    },
    'JPEG-LS',
    name,
  );
}

/** JPEG 2000 (lossless or lossy; the codec applies the inverse RCT/ICT) through OpenJPEG. */
export async function decodeJpeg2000(data: Uint8Array, name: string): Promise<CodecFrame> {
  const { info, bytes } = await runWasm(
    '@cornerstonejs/codec-openjpeg/decodewasmjs',
    'J2KDecoder',
    data,
    'JPEG 2000',
    name,
  );
  return checkSize(
    {
      width: info.width,
      height: info.height,
      components: info.componentCount,
      bitsPerSample: info.bitsPerSample,
      words: toWords(bytes, info.bitsPerSample),
    },
    'JPEG 2000',
    name,
  );
}

interface LosslessDecoder {
  decode(buffer: ArrayBuffer, offset: number, length: number, numBytes: number): Uint8Array | Uint16Array;
  frame: { dimX: number; dimY: number; numComp: number; precision: number };
}

/** JPEG lossless (process 14, any predictor) through jpeg-lossless-decoder-js. */
export function decodeJpegLossless(data: Uint8Array, bitsAllocated: number, name: string): CodecFrame {
  const { Decoder } = require('jpeg-lossless-decoder-js') as { Decoder: new () => LosslessDecoder };
  const decoder = new Decoder();
  let out: Uint8Array | Uint16Array;
  try {
    out = decoder.decode(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength, bitsAllocated <= 8 ? 1 : 2);
  } catch (e) {
    throw badInput(`${name}: corrupt JPEG lossless pixel data (${oneLine(e).slice(0, 120)})`, e);
  }
  const f = decoder.frame;
  if (!out || !f) throw badInput(`${name}: corrupt JPEG lossless pixel data (no frame decoded)`);
  return checkSize(
    { width: f.dimX, height: f.dimY, components: f.numComp, bitsPerSample: f.precision, words: Uint32Array.from(out) },
    'JPEG lossless',
    name,
  );
}

/**
 * JPEG DCT (8-bit) through jpeg-js with the YCbCr→RGB transform off: for DICOM RGB JPEG, whose
 * components are R, G, B as encoded (PS3.5 §8.2.1).
 */
export function decodeJpegNoTransform(data: Uint8Array, name: string): CodecFrame {
  const jpeg = require('jpeg-js') as typeof import('jpeg-js');
  let img: { width: number; height: number; data: Uint8Array };
  try {
    img = jpeg.decode(data, { useTArray: true, formatAsRGBA: false, colorTransform: false, tolerantDecoding: false });
  } catch (e) {
    throw badInput(`${name}: corrupt JPEG pixel data (${oneLine(e).slice(0, 120)})`, e);
  }
  return checkSize(
    { width: img.width, height: img.height, components: 3, bitsPerSample: 8, words: Uint32Array.from(img.data) },
    'JPEG',
    name,
  );
}
