/**
 * DICOM RLE Lossless decoder (transfer syntax 1.2.840.10008.1.2.5), DICOM PS3.5 Annex G.
 *
 * A frame is a 64-byte RLE header (G.5: a uint32 LE segment count ≤ 15, then 15 uint32 LE byte
 * offsets of the segments from the start of the frame) followed by the segments. Each segment is a
 * PackBits byte stream (G.3.1): a header byte n read as int8; 0 ≤ n ≤ 127 → copy the next n+1 bytes
 * literally; −127 ≤ n ≤ −1 → repeat the next byte −n+1 times; n = −128 → no operation.
 * Segments are ordered by sample, then by byte significance, most significant byte first (G.2): a
 * 16-bit RGB image has 6 segments R-hi, R-lo, G-hi, G-lo, B-hi, B-lo.
 */
import { badInput } from '../../errors.js';

/**
 * Decode one RLE frame into raw sample words, interleaved per pixel (colour-by-pixel), length
 * rows·cols·samplesPerPixel. Each word holds `bitsAllocated` bits as stored (no sign handling).
 */
export function decodeRle(
  frame: Uint8Array,
  rows: number,
  cols: number,
  samplesPerPixel: number,
  bitsAllocated: number,
  name: string,
): Uint32Array {
  const bytesPerSample = bitsAllocated / 8;
  if (!Number.isInteger(bytesPerSample) || bytesPerSample < 1 || bytesPerSample > 4) {
    throw badInput(`${name}: RLE Lossless with Bits Allocated ${bitsAllocated} is not supported`);
  }
  if (frame.length < 64) throw badInput(`${name}: truncated RLE frame (${frame.length} bytes, header needs 64)`);
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const nSegments = view.getUint32(0, true);
  const expected = samplesPerPixel * bytesPerSample;
  if (nSegments !== expected) {
    throw badInput(`${name}: corrupt RLE header: ${nSegments} segments, expected ${expected}`);
  }
  const offsets: number[] = [];
  for (let s = 0; s < nSegments; s++) offsets.push(view.getUint32(4 + 4 * s, true));
  const nPixels = rows * cols;
  const out = new Uint32Array(nPixels * samplesPerPixel);
  const segment = new Uint8Array(nPixels);
  for (let s = 0; s < nSegments; s++) {
    const start = offsets[s];
    const end = s + 1 < nSegments ? offsets[s + 1] : frame.length;
    if (start < 64 || end < start)
      throw badInput(`${name}: corrupt RLE header: segment ${s} offsets ${start}–${end} are invalid`);
    if (end > frame.length)
      throw badInput(`${name}: truncated RLE frame: segment ${s} ends at byte ${end}, the frame has ${frame.length}`);
    const produced = unpackBits(frame, start, end, segment);
    if (produced < nPixels) {
      throw badInput(`${name}: truncated RLE segment ${s}: ${produced} of ${nPixels} bytes`);
    }
    const sample = Math.floor(s / bytesPerSample);
    const shift = 8 * (bytesPerSample - 1 - (s % bytesPerSample));
    for (let p = 0, o = sample; p < nPixels; p++, o += samplesPerPixel) out[o] |= segment[p] << shift;
  }
  return out;
}

/** PackBits-decode frame[start, end) into `dst`; returns the number of bytes written (≤ dst.length). */
function unpackBits(src: Uint8Array, start: number, end: number, dst: Uint8Array): number {
  let i = start;
  let o = 0;
  const n = dst.length;
  while (i < end && o < n) {
    const h = src[i++];
    if (h < 128) {
      const count = Math.min(h + 1, end - i, n - o);
      dst.set(src.subarray(i, i + count), o);
      i += h + 1;
      o += count;
    } else if (h > 128) {
      if (i >= end) break;
      const count = Math.min(257 - h, n - o);
      dst.fill(src[i++], o, o + count);
      o += count;
    }
    // h === 128 (−128): no operation.
  }
  return o;
}
