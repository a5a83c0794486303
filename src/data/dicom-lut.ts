/**
 * DICOM lookup tables and the VOI transformation (PS3.3 §C.11).
 *
 * LUT Descriptor (C.11.1.1.1): [number of entries (0 means 65536), first stored value mapped
 * (US, or SS when pixel values are signed), bits per entry]. Values below the first mapped value use
 * the first entry, values past the end use the last.
 */
import { badInput } from '../errors.js';
import type { ImageSource } from './decoded.js';
import { tagStr } from './dicom-parse.js';
import type { DicomView } from './dicom.js';

export interface Lut {
  first: number;
  bits: number;
  data: Float64Array;
}

/** Read a LUT from its descriptor and data elements in `ds` (a data set or a sequence item). */
export function readLut(ds: DicomView, descriptorTag: number, dataTag: number, signed: boolean, name: string): Lut {
  const n0 = ds.uint16(descriptorTag, 0);
  let first = ds.uint16(descriptorTag, 1);
  const bits = ds.uint16(descriptorTag, 2);
  const el = ds.element(dataTag);
  if (n0 === undefined || first === undefined || bits === undefined || el === undefined) {
    throw badInput(`${name}: incomplete DICOM lookup table (${tagStr(descriptorTag)} / ${tagStr(dataTag)})`);
  }
  const n = n0 === 0 ? 65536 : n0;
  if (signed && first >= 0x8000) first -= 0x10000;
  if (bits < 1 || bits > 16) throw badInput(`${name}: DICOM lookup table with ${bits} bits per entry`);
  const data = new Float64Array(n);
  if (el.length === n) {
    // 8-bit entries stored one per byte.
    for (let i = 0; i < n; i++) data[i] = ds.bytes[el.valueOffset + i];
  } else if (el.length >= 2 * n) {
    for (let i = 0; i < n; i++) data[i] = ds.uint16(dataTag, i) ?? 0;
  } else {
    throw badInput(`${name}: DICOM lookup table data has ${el.length} bytes for ${n} entries`);
  }
  return { first, bits, data };
}

export function applyLut(lut: Lut, v: number): number {
  let i = Math.round(v) - lut.first;
  if (i < 0) i = 0;
  else if (i >= lut.data.length) i = lut.data.length - 1;
  return lut.data[i];
}

/**
 * Map modality values to [0,1] with the image's VOI: the first Window Center/Width
 * (LINEAR C.11.2.1.2.1, LINEAR_EXACT C.11.2.1.3.2, SIGMOID C.11.2.1.3.1), else the first VOI LUT
 * Sequence item, else the frame's min/max.
 */
export function voiToUnit(
  ds: DicomView,
  x: Float64Array,
  name: string,
): { values: Float32Array; voi: NonNullable<ImageSource['voi']> } {
  const out = new Float32Array(x.length);
  const c = ds.floatString(0x00281050, 0);
  const w = ds.floatString(0x00281051, 0);
  const fn = (ds.string(0x00281056) ?? 'LINEAR').trim().toUpperCase();
  if (
    c !== undefined &&
    w !== undefined &&
    Number.isFinite(c) &&
    Number.isFinite(w) &&
    (fn === 'LINEAR' ? w >= 1 : w > 0)
  ) {
    if (fn === 'SIGMOID') {
      for (let i = 0; i < x.length; i++) out[i] = 1 / (1 + Math.exp((-4 * (x[i] - c)) / w));
    } else if (fn === 'LINEAR_EXACT') {
      for (let i = 0; i < x.length; i++) out[i] = clamp01((x[i] - c) / w + 0.5);
    } else {
      // y = ((x − (c − 0.5)) / (w − 1) + 0.5), clipped below c − 0.5 − (w−1)/2 and above c − 0.5 + (w−1)/2.
      const c1 = c - 0.5;
      const w1 = w - 1;
      for (let i = 0; i < x.length; i++) {
        const v = x[i];
        out[i] = v <= c1 - w1 / 2 ? 0 : v > c1 + w1 / 2 ? 1 : w1 === 0 ? 1 : (v - c1) / w1 + 0.5;
      }
    }
    return {
      values: out,
      voi: { kind: 'window', center: c, width: w, fn: fn === 'LINEAR_EXACT' || fn === 'SIGMOID' ? fn : 'LINEAR' },
    };
  }
  const voiItem = ds.items(0x00283010)[0];
  if (voiItem) {
    const lut = readLut(voiItem, 0x00283002, 0x00283006, false, name);
    const max = 2 ** lut.bits - 1;
    for (let i = 0; i < x.length; i++) out[i] = clamp01(applyLut(lut, x[i]) / max);
    return { values: out, voi: { kind: 'lut', entries: lut.data.length } };
  }
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < x.length; i++) {
    if (x[i] < lo) lo = x[i];
    if (x[i] > hi) hi = x[i];
  }
  const span = hi - lo;
  for (let i = 0; i < x.length; i++) out[i] = span > 0 ? (x[i] - lo) / span : 0;
  return { values: out, voi: { kind: 'minmax', min: lo, max: hi } };
}

const clamp01 = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);
