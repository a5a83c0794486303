/**
 * NumPy `.npy` / `.npz` reader and writer. An `.npz` is a ZIP archive of `.npy` members (stored or deflated);
 * unzipping uses fflate. Supported dtypes: u1, i1, u2, i2, u4, i4, i8, u8, f4, f8, b1 (either endianness).
 * Format: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
 */
import { unzipSync, zipSync } from 'fflate';
import { badInput } from '../errors.js';

export type NpyData =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array;

export interface NpyArray {
  dtype: string;
  shape: number[];
  data: NpyData;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

export function readNpy(bytes: Uint8Array, name = 'array'): NpyArray {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b))
    throw badInput(`${name}: not a .npy array (bad magic)`);
  const major = bytes[6];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let offset: number;
  if (major === 1) {
    headerLen = dv.getUint16(8, true);
    offset = 10;
  } else if (major === 2 || major === 3) {
    headerLen = dv.getUint32(8, true);
    offset = 12;
  } else throw badInput(`${name}: unsupported .npy version ${major}`);
  if (offset + headerLen > bytes.length) throw badInput(`${name}: truncated .npy header`);
  const header = new TextDecoder('latin1').decode(bytes.subarray(offset, offset + headerLen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeStr = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeStr === undefined) throw badInput(`${name}: malformed .npy header`);
  if (fortran === 'True') throw badInput(`${name}: Fortran-ordered arrays are not supported`);
  const shape = shapeStr
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw badInput(`${name}: bad shape (${shapeStr})`);
  const count = shape.reduce((a, b) => a * b, 1);
  const start = offset + headerLen;
  const m = /^([<>|=])([biuf])(\d+)$/.exec(descr);
  if (!m) throw badInput(`${name}: unsupported dtype '${descr}'`);
  const [, endian, kind, sizeStr] = m;
  const size = Number(sizeStr);
  const need = count * size;
  if (bytes.length - start < need) throw badInput(`${name}: truncated data (${bytes.length - start} of ${need} bytes)`);
  const little = endian !== '>';
  const raw = bytes.subarray(start, start + need);
  const dtype = `${kind}${size}`;
  const data = decode(raw, kind, size, little, count, name, descr);
  return { dtype, shape, data };
}

function decode(
  raw: Uint8Array,
  kind: string,
  size: number,
  little: boolean,
  count: number,
  name: string,
  descr: string,
): NpyData {
  if (size === 1) {
    const copy = new Uint8Array(raw);
    return kind === 'i' ? new Int8Array(copy.buffer) : copy;
  }
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const read = (make: (n: number) => NpyData, get: (o: number) => number): NpyData => {
    const out = make(count);
    for (let i = 0; i < count; i++) out[i] = get(i * size);
    return out;
  };
  switch (`${kind}${size}`) {
    case 'u2':
      return read(
        (n) => new Uint16Array(n),
        (o) => dv.getUint16(o, little),
      );
    case 'i2':
      return read(
        (n) => new Int16Array(n),
        (o) => dv.getInt16(o, little),
      );
    case 'u4':
      return read(
        (n) => new Uint32Array(n),
        (o) => dv.getUint32(o, little),
      );
    case 'i4':
      return read(
        (n) => new Int32Array(n),
        (o) => dv.getInt32(o, little),
      );
    case 'i8':
      return read(
        (n) => new Int32Array(n),
        (o) => Number(dv.getBigInt64(o, little)),
      );
    case 'u8':
      return read(
        (n) => new Uint32Array(n),
        (o) => Number(dv.getBigUint64(o, little)),
      );
    case 'f4':
      return read(
        (n) => new Float32Array(n),
        (o) => dv.getFloat32(o, little),
      );
    case 'f8':
      return read(
        (n) => new Float64Array(n),
        (o) => dv.getFloat64(o, little),
      );
    default:
      throw badInput(`${name}: unsupported dtype '${descr}'`);
  }
}

/** Read every member of an `.npz` archive. Keys drop the `.npy` suffix. */
export function readNpz(bytes: Uint8Array, name = 'archive'): Record<string, NpyArray> {
  if (bytes.length < 22 || bytes[0] !== 0x50 || bytes[1] !== 0x4b)
    throw badInput(`${name}: not an .npz file (not a ZIP archive)`);
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes);
  } catch (e) {
    throw badInput(`${name}: corrupt .npz archive (${e instanceof Error ? e.message : String(e)})`);
  }
  const out: Record<string, NpyArray> = {};
  for (const [k, v] of Object.entries(files)) {
    if (!k.endsWith('.npy')) continue;
    const key = k.slice(0, -4);
    out[key] = readNpy(v, `${name}:${key}`);
  }
  if (Object.keys(out).length === 0) throw badInput(`${name}: the .npz archive holds no .npy arrays`);
  return out;
}

/**
 * Arrays to write: typed data with a shape (row-major). Int32 data can be widened to int64 (`<i8`, NumPy's default
 * integer).
 */
export interface NpyInput {
  data: Uint8Array | Int32Array | Float32Array | Float64Array;
  shape: number[];
  /** Write Int32Array data as `<i8` (default) or `<i4`; Uint8Array as `|u1` or as booleans `|b1`. */
  dtype?: 'i8' | 'i4' | 'u1' | 'b1';
}

/** Encode one array as `.npy` version 1.0 (little-endian, C order; header padded to a multiple of 64 bytes). */
export function writeNpy(a: NpyInput): Uint8Array {
  const count = a.shape.reduce((x, y) => x * y, 1);
  if (count !== a.data.length)
    throw new Error(`writeNpy: shape (${a.shape.join(',')}) holds ${count} values, data has ${a.data.length}`);
  let descr: string;
  let body: Uint8Array;
  if (a.data instanceof Float32Array) {
    descr = '<f4';
    body = new Uint8Array(a.data.length * 4);
    const dv = new DataView(body.buffer);
    a.data.forEach((v, i) => dv.setFloat32(i * 4, v, true));
  } else if (a.data instanceof Float64Array) {
    descr = '<f8';
    body = new Uint8Array(a.data.length * 8);
    const dv = new DataView(body.buffer);
    a.data.forEach((v, i) => dv.setFloat64(i * 8, v, true));
  } else if (a.data instanceof Int32Array) {
    if (a.dtype === 'i4') {
      descr = '<i4';
      body = new Uint8Array(a.data.length * 4);
      const dv = new DataView(body.buffer);
      a.data.forEach((v, i) => dv.setInt32(i * 4, v, true));
    } else {
      descr = '<i8';
      body = new Uint8Array(a.data.length * 8);
      const dv = new DataView(body.buffer);
      a.data.forEach((v, i) => dv.setBigInt64(i * 8, BigInt(v), true));
    }
  } else {
    descr = a.dtype === 'b1' ? '|b1' : '|u1';
    body = a.dtype === 'b1' ? Uint8Array.from(a.data, (v) => (v ? 1 : 0)) : new Uint8Array(a.data);
  }
  const shape = a.shape.length === 1 ? `(${a.shape[0]},)` : `(${a.shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + body.length);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  out.set(body, 10 + header.length);
  return out;
}

/** An `.npz` archive (ZIP, stored — what `numpy.savez` writes) of named arrays; keys get `.npy` appended. */
export function writeNpz(arrays: Record<string, NpyInput>): Uint8Array {
  const files: Record<string, [Uint8Array, { level: 0 }]> = {};
  for (const [k, v] of Object.entries(arrays)) files[`${k}.npy`] = [writeNpy(v), { level: 0 }];
  return zipSync(files);
}
