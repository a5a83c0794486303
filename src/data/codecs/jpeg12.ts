/**
 * Sequential DCT JPEG decoder for 12-bit samples (ISO/IEC 10918-1 extended process 4, DICOM
 * transfer syntax 1.2.840.10008.1.2.4.51), which the 8-bit libjpeg-turbo build cannot decode.
 * Follows the standard's decoding procedures: Huffman tables (Annex C), DECODE / RECEIVE / EXTEND
 * (F.2.2.1–F.2.2.3), DC prediction and run-length AC coefficients (F.2.1.2), restart intervals
 * (B.2.4.4, F.2.2.5 reset of DC predictors), dequantisation in zig-zag order, the inverse DCT of
 * A.3.3 and the level shift of 2^(P−1) with clamping to [0, 2^P − 1]. Huffman-coded, non-progressive,
 * non-hierarchical frames (SOF0/SOF1) of one or more components; components are upsampled by
 * replication. Colour components are returned as coded (no YCbCr conversion).
 */
import { badInput, unsupported } from '../../errors.js';
import type { CodecFrame } from './jpeg.js';

/** Zig-zag scan order → natural (row-major) index, Figure A.6. */
const ZIGZAG = Int32Array.from([
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
  35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47,
  55, 62, 63,
]);

/** cos((2x+1)uπ/16)·C(u)/2 for the separable IDCT of A.3.3. */
const IDCT = (() => {
  const t = new Float64Array(64);
  for (let x = 0; x < 8; x++)
    for (let u = 0; u < 8; u++)
      t[x * 8 + u] = ((u === 0 ? Math.SQRT1_2 : 1) * Math.cos(((2 * x + 1) * u * Math.PI) / 16)) / 2;
  return t;
})();

interface Huffman {
  maxcode: Int32Array;
  valptr: Int32Array;
  mincode: Int32Array;
  values: Uint8Array;
}
interface Component {
  id: number;
  h: number;
  v: number;
  tq: number;
  bw: number;
  bh: number;
  plane: Float64Array;
  pred: number;
  td: number;
  ta: number;
}

/** Build MINCODE/MAXCODE/VALPTR from BITS and HUFFVAL (C.2, F.2.2.3 Figure F.15). */
function buildHuffman(counts: Uint8Array, values: Uint8Array): Huffman {
  const maxcode = new Int32Array(18).fill(-1);
  const mincode = new Int32Array(17);
  const valptr = new Int32Array(17);
  let code = 0;
  let k = 0;
  for (let l = 1; l <= 16; l++) {
    valptr[l] = k;
    mincode[l] = code;
    code += counts[l - 1];
    k += counts[l - 1];
    maxcode[l] = counts[l - 1] ? code - 1 : -1;
    code <<= 1;
  }
  maxcode[17] = 0x7fffffff;
  return { maxcode, valptr, mincode, values };
}

class BitReader {
  private bits = 0;
  private nbits = 0;
  constructor(
    private readonly d: Uint8Array,
    public pos: number,
    private readonly name: string,
  ) {}
  private fill(): void {
    const d = this.d;
    if (this.pos >= d.length) throw badInput(`${this.name}: truncated JPEG pixel data (scan ends early)`);
    const b = d[this.pos];
    if (b === 0xff) {
      const next = d[this.pos + 1];
      if (next === 0x00) this.pos += 2;
      else
        throw badInput(
          `${this.name}: corrupt JPEG pixel data (marker FF` +
            `${(next ?? 0).toString(16).toUpperCase()} inside entropy-coded data)`,
        );
    } else this.pos++;
    this.bits = (this.bits << 8) | b;
    this.nbits += 8;
  }
  bit(): number {
    if (this.nbits === 0) this.fill();
    this.nbits--;
    return (this.bits >> this.nbits) & 1;
  }
  receive(s: number): number {
    let v = 0;
    for (let i = 0; i < s; i++) v = (v << 1) | this.bit();
    return v;
  }
  /** Discard buffered bits and consume an RSTn marker (B.2.4.4). */
  restart(): void {
    this.bits = 0;
    this.nbits = 0;
    const d = this.d;
    if (d[this.pos] === 0xff && d[this.pos + 1] >= 0xd0 && d[this.pos + 1] <= 0xd7) this.pos += 2;
    else throw badInput(`${this.name}: corrupt JPEG pixel data (missing restart marker)`);
  }
  decode(t: Huffman): number {
    let code = this.bit();
    let l = 1;
    while (code > t.maxcode[l]) {
      code = (code << 1) | this.bit();
      if (++l > 16) throw badInput(`${this.name}: corrupt JPEG pixel data (invalid Huffman code)`);
    }
    return t.values[t.valptr[l] + code - t.mincode[l]];
  }
}

const extend = (v: number, t: number): number => (t === 0 ? 0 : v < 1 << (t - 1) ? v - (1 << t) + 1 : v);

export function decodeJpeg12(d: Uint8Array, name: string): CodecFrame {
  if (d[0] !== 0xff || d[1] !== 0xd8) throw badInput(`${name}: corrupt JPEG pixel data (no SOI marker)`);
  const qt: Array<Int32Array | undefined> = [];
  const dc: Array<Huffman | undefined> = [];
  const ac: Array<Huffman | undefined> = [];
  let comps: Component[] = [];
  let precision = 0,
    width = 0,
    height = 0,
    hmax = 1,
    vmax = 1,
    restartInterval = 0;
  let pos = 2;
  let scans = 0;
  const need = (n: number): void => {
    if (pos + n > d.length) throw badInput(`${name}: truncated JPEG pixel data`);
  };
  for (;;) {
    need(2);
    if (d[pos] !== 0xff) throw badInput(`${name}: corrupt JPEG pixel data (expected a marker at byte ${pos})`);
    const m = d[pos + 1];
    pos += 2;
    if (m === 0xff) {
      pos--;
      continue;
    }
    if (m === 0xd9) break; // EOI
    need(2);
    const len = (d[pos] << 8) | d[pos + 1];
    need(len);
    const end = pos + len;
    let p = pos + 2;
    if (m === 0xdb) {
      // DQT (B.2.4.1)
      while (p < end) {
        const pq = d[p] >> 4,
          tq = d[p] & 15;
        p++;
        const t = new Int32Array(64);
        for (let k = 0; k < 64; k++) {
          t[k] = pq ? (d[p] << 8) | d[p + 1] : d[p];
          p += pq ? 2 : 1;
        }
        qt[tq] = t;
      }
    } else if (m === 0xc4) {
      // DHT (B.2.4.2)
      while (p < end) {
        const tc = d[p] >> 4,
          th = d[p] & 15;
        const counts = d.subarray(p + 1, p + 17);
        const total = counts.reduce((a, b) => a + b, 0);
        const table = buildHuffman(counts, d.slice(p + 17, p + 17 + total));
        (tc === 0 ? dc : ac)[th] = table;
        p += 17 + total;
      }
    } else if (m === 0xdd) {
      // DRI
      restartInterval = (d[p] << 8) | d[p + 1];
    } else if (m === 0xc0 || m === 0xc1) {
      // SOF0 / SOF1 (B.2.2)
      precision = d[p];
      height = (d[p + 1] << 8) | d[p + 2];
      width = (d[p + 3] << 8) | d[p + 4];
      const nf = d[p + 5];
      if (height === 0 || width === 0 || nf === 0) throw badInput(`${name}: corrupt JPEG pixel data (empty frame)`);
      comps = [];
      for (let i = 0; i < nf; i++) {
        const q = p + 6 + 3 * i;
        comps.push({
          id: d[q],
          h: d[q + 1] >> 4,
          v: d[q + 1] & 15,
          tq: d[q + 2],
          bw: 0,
          bh: 0,
          plane: new Float64Array(0),
          pred: 0,
          td: 0,
          ta: 0,
        });
      }
      hmax = Math.max(...comps.map((c) => c.h));
      vmax = Math.max(...comps.map((c) => c.v));
      const mcux = Math.ceil(width / (8 * hmax)),
        mcuy = Math.ceil(height / (8 * vmax));
      for (const c of comps) {
        c.bw = mcux * c.h;
        c.bh = mcuy * c.v;
        c.plane = new Float64Array(c.bw * c.bh * 64);
      }
    } else if (m >= 0xc2 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
      throw unsupported(
        `${name}: JPEG process with marker FF${m.toString(16).toUpperCase()}` +
          ` is not supported (sequential Huffman only)`,
      );
    } else if (m === 0xda) {
      // SOS (B.2.3)
      if (comps.length === 0) throw badInput(`${name}: corrupt JPEG pixel data (scan before frame header)`);
      const ns = d[p];
      const scomps: Component[] = [];
      for (let i = 0; i < ns; i++) {
        const c = comps.find((x) => x.id === d[p + 1 + 2 * i]);
        if (!c) throw badInput(`${name}: corrupt JPEG pixel data (scan names an unknown component)`);
        c.td = d[p + 2 + 2 * i] >> 4;
        c.ta = d[p + 2 + 2 * i] & 15;
        scomps.push(c);
      }
      pos = end;
      pos = decodeScan(d, pos, scomps, qt, dc, ac, restartInterval, precision, width, height, hmax, vmax, name);
      scans++;
      continue;
    }
    pos = end;
  }
  if (scans === 0) throw badInput(`${name}: corrupt JPEG pixel data (no scan)`);
  const nc = comps.length;
  const words = new Uint32Array(width * height * nc);
  const maxv = 2 ** precision - 1;
  for (let k = 0; k < nc; k++) {
    const c = comps[k];
    const sx = c.h / hmax,
      sy = c.v / vmax,
      rowLen = c.bw * 8;
    for (let y = 0; y < height; y++) {
      const cy = Math.floor(y * sy);
      for (let x = 0; x < width; x++) {
        const v = Math.round(c.plane[cy * rowLen + Math.floor(x * sx)]);
        words[(y * width + x) * nc + k] = v < 0 ? 0 : v > maxv ? maxv : v;
      }
    }
  }
  return { width, height, components: nc, bitsPerSample: precision, words };
}

function decodeScan(
  d: Uint8Array,
  pos: number,
  sc: Component[],
  qt: Array<Int32Array | undefined>,
  dcT: Array<Huffman | undefined>,
  acT: Array<Huffman | undefined>,
  restartInterval: number,
  precision: number,
  width: number,
  height: number,
  hmax: number,
  vmax: number,
  name: string,
): number {
  const reader = new BitReader(d, pos, name);
  const coef = new Float64Array(64);
  const tmp = new Float64Array(64);
  for (const c of sc) {
    if (!qt[c.tq] || !dcT[c.td] || !acT[c.ta])
      throw badInput(`${name}: corrupt JPEG pixel data (missing quantisation or Huffman table)`);
    c.pred = 0;
  }
  const decodeBlock = (c: Component, bx: number, by: number, shift: number): void => {
    const q = qt[c.tq] as Int32Array,
      dc = dcT[c.td] as Huffman,
      ac = acT[c.ta] as Huffman;
    coef.fill(0);
    const t = reader.decode(dc);
    c.pred += extend(reader.receive(t), t);
    coef[0] = c.pred * q[0];
    for (let k = 1; k < 64; ) {
      const rs = reader.decode(ac);
      const r = rs >> 4,
        s = rs & 15;
      if (s === 0) {
        if (r === 15) {
          k += 16;
          continue;
        }
        break;
      }
      k += r;
      if (k > 63) throw badInput(`${name}: corrupt JPEG pixel data (AC run past coefficient 63)`);
      coef[ZIGZAG[k]] = extend(reader.receive(s), s) * q[k];
      k++;
    }
    // Separable IDCT: rows then columns.
    for (let y = 0; y < 8; y++)
      for (let x = 0; x < 8; x++) {
        let a = 0;
        for (let u = 0; u < 8; u++) a += IDCT[x * 8 + u] * coef[y * 8 + u];
        tmp[y * 8 + x] = a;
      }
    const rowLen = c.bw * 8;
    for (let x = 0; x < 8; x++)
      for (let y = 0; y < 8; y++) {
        let a = 0;
        for (let v = 0; v < 8; v++) a += IDCT[y * 8 + v] * tmp[v * 8 + x];
        c.plane[(by * 8 + y) * rowLen + bx * 8 + x] = a + shift;
      }
  };
  const shift = 2 ** (precision - 1); // level shift (A.3.1)
  let mcus: number;
  let mcuFn: (i: number) => void;
  if (sc.length === 1) {
    // Non-interleaved: the component's own block grid, ceil(width·h/hmax / 8) × ceil(height·v/vmax / 8) (A.2.2).
    const c = sc[0];
    const bw = Math.ceil(Math.ceil((width * c.h) / hmax) / 8),
      bh = Math.ceil(Math.ceil((height * c.v) / vmax) / 8);
    mcus = bw * bh;
    mcuFn = (i) => decodeBlock(c, i % bw, Math.floor(i / bw), shift);
  } else {
    const mcux = Math.ceil(width / (8 * hmax));
    mcus = mcux * Math.ceil(height / (8 * vmax));
    mcuFn = (i) => {
      const mx = i % mcux,
        my = Math.floor(i / mcux);
      for (const c of sc)
        for (let v = 0; v < c.v; v++) for (let h = 0; h < c.h; h++) decodeBlock(c, mx * c.h + h, my * c.v + v, shift);
    };
  }
  for (let i = 0; i < mcus; i++) {
    if (restartInterval > 0 && i > 0 && i % restartInterval === 0) {
      reader.restart();
      for (const c of sc) c.pred = 0;
    }
    mcuFn(i);
  }
  // Skip to the next marker (ignoring stuffed zeros and RSTn after the last MCU).
  let p = reader.pos;
  while (p + 1 < d.length && !(d[p] === 0xff && d[p + 1] !== 0x00 && !(d[p + 1] >= 0xd0 && d[p + 1] <= 0xd7))) p++;
  if (p + 1 >= d.length) throw badInput(`${name}: truncated JPEG pixel data (no EOI marker)`);
  return p;
}
