/**
 * A minimal protobuf *reader* for the ONNX messages a classifier needs (onnx/onnx.proto, proto2/3):
 * ModelProto, OperatorSetIdProto, GraphProto, NodeProto, AttributeProto, TensorProto,
 * ValueInfoProto, TypeProto.Tensor, TensorShapeProto. Field numbers are onnx.proto's (the same
 * ones the writer in ../onnx-proto.ts uses). Packed and unpacked repeated scalars are both read;
 * int64 varints are decoded exactly (negative values are 10-byte two's complement).
 *
 * Anything malformed — a truncated field, a length past the end, an unknown wire type, external
 * tensor data — is a `badInput` naming the byte offset, never a crash.
 */
import { badInput } from '../../errors.js';

/** A constant tensor held in JS: float data as Float32Array, integers and booleans as Float64Array (exact to 2⁵³). */
export interface Const {
  dtype: 'float32' | 'int' | 'bool';
  shape: number[];
  data: Float32Array | Float64Array;
}

export type Attr =
  | { kind: 'f'; v: number }
  | { kind: 'i'; v: number }
  | { kind: 's'; v: string }
  | { kind: 't'; v: Const }
  | { kind: 'floats'; v: number[] }
  | { kind: 'ints'; v: number[] }
  | { kind: 'strings'; v: string[] }
  | { kind: 'graph' };

export interface OnnxNode {
  name: string;
  op: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attrs: Map<string, Attr>;
}
export interface ValueInfo {
  name: string;
  elemType: number;
  dims: Array<number | string> | null;
}
export interface OnnxGraphProto {
  name: string;
  nodes: OnnxNode[];
  initializers: Map<string, Const>;
  inputs: ValueInfo[];
  outputs: ValueInfo[];
}
export interface OnnxModelProto {
  irVersion: number;
  producer: string;
  opsets: Map<string, number>;
  graph: OnnxGraphProto;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

class Reader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    start = 0,
    readonly end = buf.length,
    readonly file = 'ONNX',
  ) {
    this.pos = start;
  }

  fail(what: string): never {
    throw badInput(`${this.file}: corrupt ONNX protobuf (${what} at byte ${this.pos})`);
  }

  more(): boolean {
    return this.pos < this.end;
  }

  /** Unsigned varint as a JS number (exact below 2⁵³); larger values are decoded as signed int64 via BigInt. */
  varint(): number {
    let v = 0;
    let mul = 1;
    let i = 0;
    const start = this.pos;
    for (;;) {
      if (this.pos >= this.end) this.fail('truncated varint');
      const b = this.buf[this.pos++];
      if (i < 7) {
        v += (b & 0x7f) * mul;
        mul *= 128;
      }
      i++;
      if (!(b & 0x80)) break;
      if (i >= 10) this.fail('varint longer than 10 bytes');
    }
    if (i <= 7) return v;
    let big = 0n;
    for (let j = 0; j < i; j++) big |= BigInt(this.buf[start + j] & 0x7f) << BigInt(7 * j);
    return Number(BigInt.asIntN(64, big));
  }

  fixed32(): DataView {
    if (this.pos + 4 > this.end) this.fail('truncated fixed32');
    const dv = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4);
    this.pos += 4;
    return dv;
  }

  bytes(): Uint8Array {
    const n = this.varint();
    if (n < 0 || this.pos + n > this.end) this.fail('length past the end of its message');
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  sub(): Reader {
    const b = this.bytes();
    return new Reader(
      this.buf,
      b.byteOffset - this.buf.byteOffset,
      b.byteOffset - this.buf.byteOffset + b.length,
      this.file,
    );
  }

  string(): string {
    return utf8.decode(this.bytes());
  }

  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) {
      if (this.pos + 8 > this.end) this.fail('truncated fixed64');
      this.pos += 8;
    } else if (wire === 2) this.bytes();
    else if (wire === 5) this.fixed32();
    else this.fail(`unknown wire type ${wire}`);
  }

  /** Iterate the fields of this message: fn(field, wire). */
  fields(fn: (field: number, wire: number) => void): void {
    while (this.more()) {
      const tag = this.varint();
      const field = Math.floor(tag / 8);
      const wire = tag & 7;
      if (field < 1) this.fail('field number 0');
      const before = this.pos;
      fn(field, wire);
      if (this.pos === before && wire !== 0) this.fail('empty field');
    }
    if (this.pos !== this.end) this.fail('message overruns its length');
  }

  /** Repeated varints, packed (wire 2) or one at a time (wire 0). */
  varints(wire: number, out: number[]): void {
    if (wire === 0) {
      out.push(this.varint());
      return;
    }
    if (wire !== 2) this.fail('bad wire type for repeated integers');
    const r = this.sub();
    while (r.more()) out.push(r.varint());
  }

  floats(wire: number, out: number[]): void {
    if (wire === 5) {
      out.push(this.fixed32().getFloat32(0, true));
      return;
    }
    if (wire !== 2) this.fail('bad wire type for repeated floats');
    const b = this.bytes();
    if (b.length % 4) this.fail('packed floats not a multiple of 4 bytes');
    const dv = new DataView(b.buffer, b.byteOffset, b.length);
    for (let i = 0; i < b.length; i += 4) out.push(dv.getFloat32(i, true));
  }

  doubles(wire: number, out: number[]): void {
    if (wire === 1) {
      if (this.pos + 8 > this.end) this.fail('truncated double');
      out.push(new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8).getFloat64(0, true));
      this.pos += 8;
      return;
    }
    if (wire !== 2) this.fail('bad wire type for repeated doubles');
    const b = this.bytes();
    if (b.length % 8) this.fail('packed doubles not a multiple of 8 bytes');
    const dv = new DataView(b.buffer, b.byteOffset, b.length);
    for (let i = 0; i < b.length; i += 8) out.push(dv.getFloat64(i, true));
  }
}

/** ONNX TensorProto.DataType names for messages. */
export const DTYPE_NAMES: Record<number, string> = {
  1: 'float',
  2: 'uint8',
  3: 'int8',
  4: 'uint16',
  5: 'int16',
  6: 'int32',
  7: 'int64',
  8: 'string',
  9: 'bool',
  10: 'float16',
  11: 'double',
  12: 'uint32',
  13: 'uint64',
  16: 'bfloat16',
};

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/**
 * TensorProto: dims 1, data_type 2, float_data 4, int32_data 5, int64_data 7, name 8, raw_data 9, double_data 10,
 * uint64_data 11, external_data 13, data_location 14.
 */
function readTensor(r: Reader): Const & { name: string } {
  const dims: number[] = [];
  let type = 0;
  let name = '';
  let raw: Uint8Array | null = null;
  const floats: number[] = [];
  const ints: number[] = [];
  let external = false;
  r.fields((f, w) => {
    if (f === 1) r.varints(w, dims);
    else if (f === 2) type = r.varint();
    else if (f === 4) r.floats(w, floats);
    else if (f === 5 || f === 7 || f === 11) r.varints(w, ints);
    else if (f === 8) name = r.string();
    else if (f === 9) raw = r.bytes();
    else if (f === 10) r.doubles(w, floats);
    else if (f === 13) {
      external = true;
      r.skip(w);
    } else if (f === 14) {
      if (r.varint() === 1) external = true;
    } else r.skip(w);
  });
  if (external)
    throw badInput(
      `${r.file}: tensor '${name}' keeps its data in an external file; re-export ` +
        `with the weights inside the .onnx (torch.onnx.export does below 2 GB)`,
    );
  const n = dims.reduce((a, b) => a * b, 1);
  if (dims.some((d) => d < 0)) r.fail(`tensor '${name}' has a negative dimension`);
  const isFloat = type === 1 || type === 10 || type === 11 || type === 16;
  const dtype: Const['dtype'] = isFloat ? 'float32' : type === 9 ? 'bool' : 'int';
  if (![1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 16].includes(type))
    throw badInput(
      `${r.file}: tensor '${name}' has data type ${DTYPE_NAMES[type] ?? type}, which medshield does not read`,
    );
  const data = isFloat ? new Float32Array(n) : new Float64Array(n);
  const rawBytes = raw as Uint8Array | null;
  if (rawBytes) {
    const size: Record<number, number> = {
      1: 4,
      2: 1,
      3: 1,
      4: 2,
      5: 2,
      6: 4,
      7: 8,
      9: 1,
      10: 2,
      11: 8,
      12: 4,
      13: 8,
      16: 2,
    };
    if (rawBytes.length !== n * size[type])
      r.fail(
        `tensor '${name}' raw_data holds ${rawBytes.length} bytes, its ` +
          `${dims.join('×') || 'scalar'} ${DTYPE_NAMES[type]} shape needs ${n * size[type]}`,
      );
    const dv = new DataView(rawBytes.buffer, rawBytes.byteOffset, rawBytes.length);
    for (let i = 0; i < n; i++) {
      switch (type) {
        case 1:
          data[i] = dv.getFloat32(i * 4, true);
          break;
        case 2:
        case 9:
          data[i] = dv.getUint8(i);
          break;
        case 3:
          data[i] = dv.getInt8(i);
          break;
        case 4:
          data[i] = dv.getUint16(i * 2, true);
          break;
        case 5:
          data[i] = dv.getInt16(i * 2, true);
          break;
        case 6:
          data[i] = dv.getInt32(i * 4, true);
          break;
        case 7:
          data[i] = Number(dv.getBigInt64(i * 8, true));
          break;
        case 10:
          data[i] = halfToFloat(dv.getUint16(i * 2, true));
          break;
        case 11:
          data[i] = dv.getFloat64(i * 8, true);
          break;
        case 12:
          data[i] = dv.getUint32(i * 4, true);
          break;
        case 13:
          data[i] = Number(dv.getBigUint64(i * 8, true));
          break;
        case 16:
          data[i] = new Float32Array(new Uint32Array([dv.getUint16(i * 2, true) << 16]).buffer)[0];
          break;
      }
    }
  } else {
    const src = isFloat && type !== 10 && type !== 16 ? floats : ints;
    if (src.length !== n)
      r.fail(`tensor '${name}' holds ${src.length} values, its shape ${dims.join('×') || 'scalar'} needs ${n}`);
    for (let i = 0; i < n; i++) data[i] = type === 10 ? halfToFloat(src[i]) : src[i];
  }
  return { name, dtype, shape: dims, data };
}

/** AttributeProto: name 1, f 2, i 3, s 4, t 5, g 6, floats 7, ints 8, strings 9, tensors 10, graphs 11, type 20. */
function readAttribute(r: Reader): [string, Attr] {
  let name = '';
  let type = 0;
  let f = 0;
  let i = 0;
  let s = '';
  let t: Const | null = null;
  let g = false;
  const floats: number[] = [];
  const ints: number[] = [];
  const strings: string[] = [];
  r.fields((fld, w) => {
    if (fld === 1) name = r.string();
    else if (fld === 2) f = r.fixed32().getFloat32(0, true);
    else if (fld === 3) i = r.varint();
    else if (fld === 4) s = r.string();
    else if (fld === 5) t = readTensor(r.sub());
    else if (fld === 6 || fld === 11) {
      g = true;
      r.skip(w);
    } else if (fld === 7) r.floats(w, floats);
    else if (fld === 8) r.varints(w, ints);
    else if (fld === 9) strings.push(r.string());
    else if (fld === 20) type = r.varint();
    else r.skip(w);
  });
  switch (type) {
    case 1:
      return [name, { kind: 'f', v: f }];
    case 2:
      return [name, { kind: 'i', v: i }];
    case 3:
      return [name, { kind: 's', v: s }];
    case 4:
      if (!t) r.fail(`attribute '${name}' has no tensor`);
      return [name, { kind: 't', v: t }];
    case 5:
    case 10:
      return [name, { kind: 'graph' }];
    case 6:
      return [name, { kind: 'floats', v: floats }];
    case 7:
      return [name, { kind: 'ints', v: ints }];
    case 8:
      return [name, { kind: 'strings', v: strings }];
    default:
      // proto2 files may omit `type`: infer from what is set.
      if (t) return [name, { kind: 't', v: t }];
      if (g) return [name, { kind: 'graph' }];
      if (ints.length) return [name, { kind: 'ints', v: ints }];
      if (floats.length) return [name, { kind: 'floats', v: floats }];
      if (s) return [name, { kind: 's', v: s }];
      return [name, f ? { kind: 'f', v: f } : { kind: 'i', v: i }];
  }
}

function readNode(r: Reader): OnnxNode {
  const n: OnnxNode = { name: '', op: '', domain: '', inputs: [], outputs: [], attrs: new Map() };
  r.fields((f, w) => {
    if (f === 1) n.inputs.push(r.string());
    else if (f === 2) n.outputs.push(r.string());
    else if (f === 3) n.name = r.string();
    else if (f === 4) n.op = r.string();
    else if (f === 7) n.domain = r.string();
    else if (f === 5) {
      const [k, v] = readAttribute(r.sub());
      n.attrs.set(k, v);
    } else r.skip(w);
  });
  if (!n.op) r.fail('node without op_type');
  return n;
}

/**
 * ValueInfoProto: name 1, type 2 → TypeProto.tensor_type 1 → elem_type 1, shape 2 → dim 1 → dim_value 1 | dim_param 2.
 */
function readValueInfo(r: Reader): ValueInfo {
  const v: ValueInfo = { name: '', elemType: 0, dims: null };
  r.fields((f, w) => {
    if (f === 1) v.name = r.string();
    else if (f === 2) {
      const tp = r.sub();
      tp.fields((f2, w2) => {
        if (f2 !== 1) {
          tp.skip(w2);
          return;
        }
        const tt = tp.sub();
        tt.fields((f3, w3) => {
          if (f3 === 1) v.elemType = tt.varint();
          else if (f3 === 2) {
            v.dims = [];
            const sh = tt.sub();
            sh.fields((f4, w4) => {
              if (f4 !== 1) {
                sh.skip(w4);
                return;
              }
              const dm = sh.sub();
              let d: number | string = '?';
              dm.fields((f5, w5) => {
                if (f5 === 1) d = dm.varint();
                else if (f5 === 2) d = dm.string() || '?';
                else dm.skip(w5);
              });
              v.dims!.push(d);
            });
          } else tt.skip(w3);
        });
      });
    } else r.skip(w);
  });
  return v;
}

function readGraph(r: Reader): OnnxGraphProto {
  const g: OnnxGraphProto = { name: '', nodes: [], initializers: new Map(), inputs: [], outputs: [] };
  r.fields((f, w) => {
    if (f === 1) g.nodes.push(readNode(r.sub()));
    else if (f === 2) g.name = r.string();
    else if (f === 5) {
      const t = readTensor(r.sub());
      g.initializers.set(t.name, { dtype: t.dtype, shape: t.shape, data: t.data });
    } else if (f === 11) g.inputs.push(readValueInfo(r.sub()));
    else if (f === 12) g.outputs.push(readValueInfo(r.sub()));
    else if (f === 15) throw badInput(`${r.file}: sparse initialisers are not supported; export with dense weights`);
    else r.skip(w);
  });
  return g;
}

/** Decode an ONNX ModelProto (ir_version 1, producer_name 2, graph 7, opset_import 8). */
export function readOnnxModel(buf: Uint8Array, file = 'ONNX'): OnnxModelProto {
  const r = new Reader(buf, 0, buf.length, file);
  const m: OnnxModelProto = { irVersion: 0, producer: '', opsets: new Map(), graph: null as unknown as OnnxGraphProto };
  r.fields((f, w) => {
    if (f === 1) m.irVersion = r.varint();
    else if (f === 2) m.producer = r.string();
    else if (f === 7) m.graph = readGraph(r.sub());
    else if (f === 8) {
      const o = r.sub();
      let domain = '';
      let version = 0;
      o.fields((f2, w2) => {
        if (f2 === 1) domain = o.string();
        else if (f2 === 2) version = o.varint();
        else o.skip(w2);
      });
      m.opsets.set(domain === 'ai.onnx' ? '' : domain, version);
    } else r.skip(w);
  });
  if (!m.graph?.nodes.length) throw badInput(`${file}: not an ONNX model (no graph with nodes)`);
  if (!m.irVersion) throw badInput(`${file}: not an ONNX model (no ir_version)`);
  return m;
}
