/**
 * A minimal protobuf *writer* for the ONNX messages the exporter emits (onnx/onnx.proto, proto2):
 * ModelProto, OperatorSetIdProto, GraphProto, NodeProto, AttributeProto, TensorProto,
 * ValueInfoProto, TypeProto(.Tensor), TensorShapeProto(.Dimension), StringStringEntryProto.
 *
 * Hand-written instead of a dependency: medshield only ever encodes (onnxruntime-node decodes), the
 * subset is ~20 fields, and the npm candidates (`onnx-proto`, protobufjs-generated code) would add
 * a legacy protobufjs 6 tree to the SBOM for what is varints and length-delimited bytes. Field
 * numbers below are those of onnx.proto; repeated scalars are written unpacked (proto2 default).
 * Float tensors go in `raw_data` as little-endian float32.
 */

/** Wire types: 0 varint, 2 length-delimited, 5 fixed32. */
export class Pb {
  private parts: Uint8Array[] = [];
  length = 0;

  private push(b: Uint8Array): void {
    this.parts.push(b);
    this.length += b.length;
  }

  private rawVarint(v: number): void {
    if (!(Number.isSafeInteger(v) && v >= 0)) throw new Error(`protobuf varint out of range: ${v}`);
    const out: number[] = [];
    while (v >= 0x80) {
      out.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    out.push(v);
    this.push(Uint8Array.from(out));
  }

  private tag(field: number, wire: number): void {
    this.rawVarint(field * 8 + wire);
  }

  /** int32/int64/enum field (non-negative values only, which is all ONNX needs here). */
  int(field: number, v: number): this {
    this.tag(field, 0);
    this.rawVarint(v);
    return this;
  }
  ints(field: number, vs: Iterable<number>): this {
    for (const v of vs) this.int(field, v);
    return this;
  }

  float(field: number, v: number): this {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.push(b);
    return this;
  }

  bytes(field: number, b: Uint8Array): this {
    this.tag(field, 2);
    this.rawVarint(b.length);
    this.push(b);
    return this;
  }
  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }
  strings(field: number, ss: Iterable<string>): this {
    for (const s of ss) this.string(field, s);
    return this;
  }

  message(field: number, m: Pb): this {
    this.tag(field, 2);
    this.rawVarint(m.length);
    for (const p of m.parts) this.push(p);
    return this;
  }
  messages(field: number, ms: Iterable<Pb>): this {
    for (const m of ms) this.message(field, m);
    return this;
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

export const FLOAT = 1;

export type AttrValue = number | number[] | string | { float: number };

/** AttributeProto: name 1, f 2, i 3, s 4, floats 7, ints 8, type 20 (FLOAT 1, INT 2, STRING 3, INTS 7). */
export function attribute(name: string, v: AttrValue): Pb {
  const a = new Pb().string(1, name);
  if (typeof v === 'number') return a.int(3, v).int(20, 2);
  if (typeof v === 'string') return a.string(4, v).int(20, 3);
  if (Array.isArray(v)) return a.ints(8, v).int(20, 7);
  return a.float(2, v.float).int(20, 1);
}

/** NodeProto: input 1, output 2, name 3, op_type 4, attribute 5. */
export function node(
  op: string,
  inputs: string[],
  outputs: string[],
  name: string,
  attrs: Record<string, AttrValue> = {},
): Pb {
  return new Pb()
    .strings(1, inputs)
    .strings(2, outputs)
    .string(3, name)
    .string(4, op)
    .messages(
      5,
      Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    );
}

/** TensorProto: dims 1, data_type 2, name 8, raw_data 9 (float32). */
export function floatTensor(name: string, dims: number[], data: Float32Array): Pb {
  const n = dims.reduce((a, b) => a * b, 1);
  if (n !== data.length) throw new Error(`tensor ${name}: dims ${dims.join('×')} need ${n} values, got ${data.length}`);
  const le = new Uint8Array(data.length * 4);
  const dv = new DataView(le.buffer);
  for (let i = 0; i < data.length; i++) dv.setFloat32(i * 4, data[i], true);
  return new Pb().ints(1, dims).int(2, FLOAT).string(8, name).bytes(9, le);
}

/**
 * ValueInfoProto (name 1, type 2) of a float tensor; a string dim is symbolic (dim_param 2), a number fixed (dim_value
 * 1).
 */
export function valueInfo(name: string, dims: Array<number | string>): Pb {
  const shape = new Pb().messages(
    1,
    dims.map((d) => (typeof d === 'number' ? new Pb().int(1, d) : new Pb().string(2, d))),
  );
  const tensorType = new Pb().int(1, FLOAT).message(2, shape);
  return new Pb().string(1, name).message(2, new Pb().message(1, tensorType));
}

/** GraphProto: node 1, name 2, initializer 5, doc_string 10, input 11, output 12. */
export function graph(name: string, nodes: Pb[], initializers: Pb[], inputs: Pb[], outputs: Pb[], doc = ''): Pb {
  const g = new Pb().messages(1, nodes).string(2, name).messages(5, initializers);
  if (doc) g.string(10, doc);
  return g.messages(11, inputs).messages(12, outputs);
}

/**
 * ModelProto: ir_version 1, producer_name 2, producer_version 3, doc_string 6, graph 7, opset_import 8 (domain 1,
 * version 2), metadata_props 14 (key 1, value 2).
 */
export function model(
  g: Pb,
  o: {
    irVersion: number;
    opset: number;
    producer: string;
    producerVersion: string;
    doc?: string;
    metadata?: Record<string, string>;
  },
): Uint8Array {
  const m = new Pb().int(1, o.irVersion).string(2, o.producer).string(3, o.producerVersion);
  if (o.doc) m.string(6, o.doc);
  m.message(7, g).message(8, new Pb().string(1, '').int(2, o.opset));
  for (const [k, v] of Object.entries(o.metadata ?? {})) m.message(14, new Pb().string(1, k).string(2, v));
  return m.finish();
}
