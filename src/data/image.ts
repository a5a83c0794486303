/**
 * Single-image decoding: PNG (ISO/IEC 15948, via `pngjs`), JPEG (ISO/IEC 10918-1, via `jpeg-js`)
 * and DICOM (PS3.10, see dicom.ts). `decodeImageAs` decodes a known format and never sniffs (the
 * gateway: the Content-Type it verified decides); `decodeImage` (files on the CLI) chooses by the
 * file's magic bytes, never by its extension:
 *   PNG  89 50 4E 47 0D 0A 1A 0A   (PNG §5.2 signature)
 *   JPEG FF D8 FF                  (SOI then the first marker)
 *   DICOM "DICM" at byte 128, or a bare ACR-NEMA data set (dicom-syntax.ts)
 * Output is HWC float in [0,1]: samples divided by 2^bitDepth − 1 (palette PNGs by 255). Grey
 * images have one channel; colour images three; an alpha channel is dropped (recorded in source).
 * Every decoder checks the declared width × height (× frames) against a cap (default 64 MP, or
 * MEDSHIELD_MAX_PIXELS; pixel-budget.ts) from the header, before it allocates anything.
 */
import { createRequire } from 'node:module';
import type { PNGWithMetadata } from 'pngjs';
import { badInput, oneLine, unsupported } from '../errors.js';
import type { DecodedImage } from './decoded.js';
import { decodeDicom, type DicomOptions } from './dicom.js';
import { checkPixelBudget, defaultMaxPixels } from './pixel-budget.js';
import { sniffDicom } from './dicom-syntax.js';
import { jpegFrameHeader } from './codecs/jpeg-markers.js';
import { decodeJpeg12 } from './codecs/jpeg12.js';

export type { DecodedImage, ImageFormat, ImageSource } from './decoded.js';

const require = createRequire(import.meta.url);

export type SniffedFormat = 'png' | 'jpeg' | 'dicom';

/** Identify PNG / JPEG / DICOM from the leading bytes; null for anything else. */
export function sniffImageFormat(bytes: Uint8Array): SniffedFormat | null {
  const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (bytes.length >= 8 && png.every((b, i) => bytes[i] === b)) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (sniffDicom(bytes) !== null) return 'dicom';
  return null;
}

/**
 * Decode a PNG, JPEG or DICOM image from its bytes into a [0,1] HWC float image.
 * `name` (usually the file name) prefixes every error message.
 */
export async function decodeImage(bytes: Uint8Array, name = 'image', opts: DicomOptions = {}): Promise<DecodedImage> {
  const format = sniffImageFormat(bytes);
  if (format === null) throw badInput(`${name}: not a PNG, JPEG or DICOM image`);
  // A PNG/JPEG signature at byte 0 and "DICM" at byte 128 is both formats at once (a polyglot: issue 20).
  if (format !== 'dicom' && sniffDicom(bytes)?.part10)
    throw badInput(
      `${name}: ambiguous file: a ${format.toUpperCase()} signature in the DICOM preamble (a polyglot), refused`,
    );
  return decodeImageAs(format, bytes, name, opts);
}

/** Decode bytes as the given format only (no sniffing: a PNG body is never read as DICOM, nor the reverse). */
export async function decodeImageAs(
  format: SniffedFormat,
  bytes: Uint8Array,
  name = 'image',
  opts: DicomOptions = {},
): Promise<DecodedImage> {
  switch (format) {
    case 'png':
      return decodePng(bytes, name, opts.maxPixels);
    case 'jpeg':
      return decodeJpeg(bytes, name, opts.maxPixels);
    case 'dicom':
      return decodeDicom(bytes, name, opts);
    default:
      throw badInput(`${name}: not a PNG, JPEG or DICOM image`);
  }
}

/** Width and height from a PNG's IHDR chunk (PNG §11.2.2: the first chunk), or a one-line error. */
export function pngDimensions(bytes: Uint8Array, name = 'image'): { width: number; height: number } {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (bytes.length < 8 || !sig.every((b, i) => bytes[i] === b))
    throw badInput(`${name}: not a PNG file (no PNG signature)`);
  if (bytes.length < 24 || String.fromCharCode(bytes[12], bytes[13], bytes[14], bytes[15]) !== 'IHDR')
    throw badInput(`${name}: truncated or corrupt PNG (no IHDR chunk first)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: dv.getUint32(16, false), height: dv.getUint32(20, false) };
}

/** PNG colour types (PNG §11.2.2). */
const PNG_COLOUR: Record<number, string> = {
  0: 'greyscale',
  2: 'truecolour',
  3: 'indexed-colour',
  4: 'greyscale with alpha',
  6: 'truecolour with alpha',
};

export function decodePng(bytes: Uint8Array, name = 'image', maxPixels = defaultMaxPixels()): DecodedImage {
  const dims = pngDimensions(bytes, name);
  checkPixelBudget(dims.width, dims.height, 1, maxPixels, name);
  const { PNG } = require('pngjs') as typeof import('pngjs');
  let png: PNGWithMetadata;
  try {
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { skipRescale: true });
  } catch (e) {
    const why = /read requests|finished stream|unexpected end/i.test(oneLine(e)) ? 'data ends early' : oneLine(e);
    throw badInput(`${name}: truncated or corrupt PNG (${why})`, e);
  }
  const { width, height, depth } = png;
  const colorType = png.colorType as number;
  const palette = colorType === 3;
  const colour = palette || (colorType & 2) !== 0;
  const channels: 1 | 3 = colour ? 3 : 1;
  const max = palette ? 255 : 2 ** depth - 1;
  const src = png.data as unknown as ArrayLike<number>; // RGBA, Buffer (≤ 8 bit) or Uint16Array (16 bit)
  const n = width * height;
  if (src.length < 4 * n) throw badInput(`${name}: truncated PNG (${src.length / 4} of ${n} pixels)`);
  const data = new Float32Array(n * channels);
  if (channels === 1) {
    for (let p = 0; p < n; p++) data[p] = src[4 * p] / max;
  } else {
    for (let p = 0; p < n; p++) {
      data[3 * p] = src[4 * p] / max;
      data[3 * p + 1] = src[4 * p + 1] / max;
      data[3 * p + 2] = src[4 * p + 2] / max;
    }
  }
  return {
    width,
    height,
    channels,
    data,
    source: {
      format: 'png',
      bitDepth: depth,
      colour: PNG_COLOUR[colorType] ?? `colour type ${colorType}`,
      alphaDropped: (colorType & 4) !== 0 || undefined,
    },
  };
}

export function decodeJpeg(bytes: Uint8Array, name = 'image', maxPixels = defaultMaxPixels()): DecodedImage {
  if (bytes.length < 3 || bytes[0] !== 0xff || bytes[1] !== 0xd8 || bytes[2] !== 0xff)
    throw badInput(`${name}: not a JPEG file (no SOI marker)`);
  const sof = jpegFrameHeader(bytes);
  if (sof === null) throw badInput(`${name}: truncated or corrupt JPEG (no frame header)`);
  checkPixelBudget(sof.width, sof.height, 1, maxPixels, name);
  if (sof.process === 'lossless' || sof.process === 'arithmetic' || sof.process === 'hierarchical') {
    throw unsupported(
      `${name}: ${sof.process} JPEG files are not supported (baseline, extended and progressive DCT only)`,
    );
  }
  if (sof.precision === 12 && sof.components === 1 && sof.process !== 'progressive') {
    // 12-bit greyscale (extended process 4), e.g. a JPEG stream lifted out of a DICOM file.
    const f = decodeJpeg12(bytes, name);
    const data = new Float32Array(f.words.length);
    for (let i = 0; i < data.length; i++) data[i] = f.words[i] / 4095;
    return {
      width: f.width,
      height: f.height,
      channels: 1,
      data,
      source: { format: 'jpeg', bitDepth: 12, colour: 'greyscale' },
    };
  }
  if (sof.precision !== 8)
    throw unsupported(
      `${name}: ${sof.precision}-bit ${sof.components === 1 ? 'greyscale' : 'colour'} JPEG files are not supported`,
    );
  if (sof.components !== 1 && sof.components !== 3)
    throw unsupported(`${name}: JPEG with ${sof.components} components is not supported`);
  const jpeg = require('jpeg-js') as typeof import('jpeg-js');
  let rgb: Uint8Array;
  try {
    // tolerantDecoding off: a truncated scan is an error, not grey padding.
    rgb = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: false,
      tolerantDecoding: false,
      maxResolutionInMP: Math.ceil(maxPixels / 1e6),
    }).data;
  } catch (e) {
    throw badInput(`${name}: truncated or corrupt JPEG (${oneLine(e)})`, e);
  }
  const { width, height } = sof;
  const channels: 1 | 3 = sof.components === 1 ? 1 : 3;
  const n = width * height;
  if (rgb.length < 3 * n) throw badInput(`${name}: truncated JPEG (${rgb.length / 3} of ${n} pixels)`);
  const data = new Float32Array(n * channels);
  if (channels === 1) for (let p = 0; p < n; p++) data[p] = rgb[3 * p] / 255;
  else for (let i = 0; i < 3 * n; i++) data[i] = rgb[i] / 255;
  return {
    width,
    height,
    channels,
    data,
    source: { format: 'jpeg', bitDepth: 8, colour: channels === 1 ? 'greyscale' : 'YCbCr/RGB' },
  };
}
