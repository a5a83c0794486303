/**
 * ONNX ops on constants, evaluated in JS: the shape arithmetic that exporters emit around reshapes
 * (Shape → Gather → Unsqueeze → Concat → Reshape, ConstantOfShape, Expand, Where, Equal, Cast,
 * Slice, Range …) and element-wise arithmetic on initialisers. Folded once at load time when every
 * input is an initialiser; when an input is the *shape* of an activation (batch size only known at
 * run time) the same code runs per call on a handful of integers, outside the gradient tape.
 * Semantics follow the ONNX operator specs (https://onnx.ai/onnx/operators/), numpy broadcasting.
 */
import { badInput } from '../../errors.js';
import type { Attr, Const, OnnxNode } from './proto.js';

export const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

export function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

export function mk(dtype: Const['dtype'], shape: number[], values: ArrayLike<number>): Const {
  const data = dtype === 'float32' ? Float32Array.from(values) : Float64Array.from(values);
  return { dtype, shape, data };
}

export function attrInt(n: OnnxNode, k: string, d: number): number {
  const a = n.attrs.get(k);
  return a && a.kind === 'i' ? a.v : d;
}
export function attrFloat(n: OnnxNode, k: string, d: number): number {
  const a = n.attrs.get(k);
  return a && a.kind === 'f' ? a.v : a && a.kind === 'i' ? a.v : d;
}
export function attrInts(n: OnnxNode, k: string): number[] | undefined {
  const a = n.attrs.get(k);
  return a && a.kind === 'ints' ? a.v : a && a.kind === 'i' ? [a.v] : undefined;
}
export function attrStr(n: OnnxNode, k: string, d: string): string {
  const a = n.attrs.get(k);
  return a && a.kind === 's' ? a.v : d;
}
export function attr(n: OnnxNode, k: string): Attr | undefined {
  return n.attrs.get(k);
}

export function ints(c: Const): number[] {
  return Array.from(c.data, (v) => Math.trunc(v));
}

/** numpy broadcast of two shapes. */
export function broadcastShape(a: readonly number[], b: readonly number[], where = ''): number[] {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const x = a[a.length - r + i] ?? 1;
    const y = b[b.length - r + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1)
      throw badInput(`ONNX ${where}: shapes ${a.join('×')} and ${b.join('×')} do not broadcast`);
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** Values of `c` broadcast to `shape`, flat. */
export function broadcastTo(c: Const, shape: number[]): Float64Array {
  const n = size(shape);
  const out = new Float64Array(n);
  const r = shape.length;
  const cs = c.shape;
  const off = r - cs.length;
  const srcStr = strides(cs);
  const outStr = strides(shape);
  for (let i = 0; i < n; i++) {
    let rem = i;
    let src = 0;
    for (let d = 0; d < r; d++) {
      const idx = Math.floor(rem / outStr[d]);
      rem -= idx * outStr[d];
      if (d >= off && cs[d - off] !== 1) src += idx * srcStr[d - off];
    }
    out[i] = c.data[src];
  }
  return out;
}

function binary(n: OnnxNode, a: Const, b: Const, f: (x: number, y: number) => number, dtype?: Const['dtype']): Const {
  const shape = broadcastShape(a.shape, b.shape, `${n.op} '${n.name}'`);
  const x = broadcastTo(a, shape);
  const y = broadcastTo(b, shape);
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = f(x[i], y[i]);
  return mk(dtype ?? (a.dtype === 'float32' || b.dtype === 'float32' ? 'float32' : a.dtype), shape, out);
}

function unary(a: Const, f: (x: number) => number): Const {
  return mk(a.dtype === 'bool' ? 'int' : a.dtype, [...a.shape], Array.from(a.data, f));
}

const normAxis = (a: number, r: number): number => (a < 0 ? a + r : a);

function transpose(a: Const, perm: number[]): Const {
  const shape = perm.map((p) => a.shape[p]);
  const inStr = strides(a.shape);
  const outStr = strides(shape);
  const n = size(shape);
  const out = a.dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let rem = i;
    let src = 0;
    for (let d = 0; d < shape.length; d++) {
      const idx = Math.floor(rem / outStr[d]);
      rem -= idx * outStr[d];
      src += idx * inStr[perm[d]];
    }
    out[i] = a.data[src];
  }
  return { dtype: a.dtype, shape, data: out };
}

/** Resolve an ONNX Reshape target (0 copies the input dim unless allowzero, one -1 inferred). */
export function reshapeTarget(inShape: readonly number[], spec: number[], allowZero: boolean, where: string): number[] {
  const out = spec.map((d, i) => (d === 0 && !allowZero ? inShape[i] : d));
  const known = out.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const total = size(inShape);
  const neg = out.filter((d) => d === -1).length;
  if (neg > 1) throw badInput(`ONNX Reshape '${where}': more than one -1 in the target shape`);
  if (neg === 1) out[out.indexOf(-1)] = known === 0 ? 0 : total / known;
  if (size(out) !== total || out.some((d) => !Number.isInteger(d) || d < 0))
    throw badInput(`ONNX Reshape '${where}': cannot reshape ${inShape.join('×')} to ${spec.join('×')}`);
  return out;
}

/** ONNX Slice → per-axis [start, end, step] for every axis of `shape` (clamped as the spec says). */
export function sliceSpec(
  shape: readonly number[],
  starts: number[],
  ends: number[],
  axes: number[] | undefined,
  steps: number[] | undefined,
): Array<[number, number, number]> {
  const spec: Array<[number, number, number]> = shape.map((d) => [0, d, 1]);
  starts.forEach((s, i) => {
    const ax = normAxis(axes ? axes[i] : i, shape.length);
    const d = shape[ax];
    const st = steps ? steps[i] : 1;
    let b = s < 0 ? s + d : s;
    let e = ends[i] < 0 ? ends[i] + d : ends[i];
    if (st > 0) {
      b = Math.min(Math.max(b, 0), d);
      e = Math.min(Math.max(e, 0), d);
    } else {
      b = Math.min(Math.max(b, -1), d - 1);
      e = Math.min(Math.max(e, -1), d - 1);
    }
    spec[ax] = [b, e, st];
  });
  return spec;
}

export function sliceLen([b, e, s]: [number, number, number]): number {
  return Math.max(0, Math.ceil((e - b) / s));
}

function slice(a: Const, spec: Array<[number, number, number]>): Const {
  const shape = spec.map(sliceLen);
  const n = size(shape);
  const inStr = strides(a.shape);
  const outStr = strides(shape);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let rem = i;
    let src = 0;
    for (let d = 0; d < shape.length; d++) {
      const idx = Math.floor(rem / outStr[d]);
      rem -= idx * outStr[d];
      src += (spec[d][0] + idx * spec[d][2]) * inStr[d];
    }
    out[i] = a.data[src];
  }
  return mk(a.dtype, shape, out);
}

function concat(cs: Const[], axis: number): Const {
  const r = cs[0].shape.length;
  const ax = normAxis(axis, r);
  const shape = [...cs[0].shape];
  shape[ax] = cs.reduce((s, c) => s + c.shape[ax], 0);
  const outer = size(shape.slice(0, ax));
  const out: number[] = [];
  for (let o = 0; o < outer; o++)
    for (const c of cs) {
      const blk = size(c.shape.slice(ax));
      for (let j = 0; j < blk; j++) out.push(c.data[o * blk + j]);
    }
  return mk(cs.some((c) => c.dtype === 'float32') ? 'float32' : cs[0].dtype, shape, out);
}

function gather(a: Const, idx: Const, axis: number): Const {
  const ax = normAxis(axis, a.shape.length);
  const d = a.shape[ax];
  const outer = size(a.shape.slice(0, ax));
  const inner = size(a.shape.slice(ax + 1));
  const shape = [...a.shape.slice(0, ax), ...idx.shape, ...a.shape.slice(ax + 1)];
  const out: number[] = [];
  for (let o = 0; o < outer; o++)
    for (const iv of idx.data) {
      const i = iv < 0 ? iv + d : iv;
      if (i < 0 || i >= d) throw badInput(`ONNX Gather: index ${iv} out of range for a dimension of ${d}`);
      for (let j = 0; j < inner; j++) out.push(a.data[(o * d + i) * inner + j]);
    }
  return mk(a.dtype, shape, out);
}

function castTo(a: Const, to: number): Const {
  if (to === 1 || to === 10 || to === 11 || to === 16) return mk('float32', [...a.shape], a.data);
  if (to === 9)
    return mk(
      'bool',
      [...a.shape],
      Array.from(a.data, (v) => (v ? 1 : 0)),
    );
  if ([2, 3, 4, 5, 6, 7, 12, 13].includes(to))
    return mk(
      'int',
      [...a.shape],
      Array.from(a.data, (v) => Math.trunc(v)),
    );
  throw badInput(`ONNX Cast to data type ${to} is not supported`);
}

function axesOf(n: OnnxNode, ins: Array<Const | undefined>, inputIdx: number): number[] | undefined {
  const a = attrInts(n, 'axes');
  if (a) return a;
  const c = ins[inputIdx];
  return c ? ints(c) : undefined;
}

/** Ops this module evaluates when every input is a constant. */
export const CONST_OPS = new Set([
  'Constant',
  'Identity',
  'Dropout',
  'Shape',
  'Size',
  'Gather',
  'Concat',
  'Unsqueeze',
  'Squeeze',
  'Reshape',
  'Flatten',
  'Transpose',
  'Slice',
  'Cast',
  'ConstantOfShape',
  'Expand',
  'Where',
  'Equal',
  'Less',
  'Greater',
  'LessOrEqual',
  'GreaterOrEqual',
  'Not',
  'And',
  'Or',
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Pow',
  'Neg',
  'Sqrt',
  'Abs',
  'Exp',
  'Log',
  'Reciprocal',
  'Floor',
  'Ceil',
  'Min',
  'Max',
  'Range',
  'ReduceProd',
  'Mod',
  'Sign',
]);

/** Evaluate one node on constant inputs (opset `opset`); returns its outputs. */
export function constOp(n: OnnxNode, ins: Array<Const | undefined>, opset: number): Const[] {
  const a = ins[0] as Const;
  const b = ins[1] as Const;
  switch (n.op) {
    case 'Constant': {
      const v =
        n.attrs.get('value') ??
        n.attrs.get('value_float') ??
        n.attrs.get('value_floats') ??
        n.attrs.get('value_int') ??
        n.attrs.get('value_ints');
      if (!v) throw badInput(`ONNX Constant '${n.name}' has no value attribute medshield reads`);
      if (v.kind === 't') return [v.v];
      if (v.kind === 'f') return [mk('float32', [], [v.v])];
      if (v.kind === 'floats') return [mk('float32', [v.v.length], v.v)];
      if (v.kind === 'i') return [mk('int', [], [v.v])];
      if (v.kind === 'ints') return [mk('int', [v.v.length], v.v)];
      throw badInput(`ONNX Constant '${n.name}' has an unsupported value`);
    }
    case 'Identity':
    case 'Dropout':
      return [a];
    case 'Shape': {
      const r = a.shape.length;
      let s = attrInt(n, 'start', 0);
      let e = attrInt(n, 'end', r);
      s = Math.min(Math.max(normAxis(s, r), 0), r);
      e = Math.min(Math.max(normAxis(e, r), 0), r);
      const v = a.shape.slice(s, e);
      return [mk('int', [v.length], v)];
    }
    case 'Size':
      return [mk('int', [], [size(a.shape)])];
    case 'Gather':
      return [gather(a, b, attrInt(n, 'axis', 0))];
    case 'Concat':
      return [
        concat(
          ins.filter((c): c is Const => !!c),
          attrInt(n, 'axis', 0),
        ),
      ];
    case 'Unsqueeze': {
      const axes = axesOf(n, ins, 1) ?? [];
      const r = a.shape.length + axes.length;
      const ax = axes.map((x) => normAxis(x, r)).sort((x, y) => x - y);
      const shape = [...a.shape];
      for (const x of ax) shape.splice(x, 0, 1);
      return [{ ...a, shape }];
    }
    case 'Squeeze': {
      const axes = axesOf(n, ins, 1);
      const ax = axes
        ? axes.map((x) => normAxis(x, a.shape.length))
        : a.shape.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0);
      return [{ ...a, shape: a.shape.filter((_, i) => !ax.includes(i)) }];
    }
    case 'Reshape':
      return [{ ...a, shape: reshapeTarget(a.shape, ints(b), attrInt(n, 'allowzero', 0) === 1, n.name) }];
    case 'Flatten': {
      const ax = normAxis(attrInt(n, 'axis', 1), a.shape.length);
      return [{ ...a, shape: [size(a.shape.slice(0, ax)), size(a.shape.slice(ax))] }];
    }
    case 'Transpose':
      return [transpose(a, attrInts(n, 'perm') ?? a.shape.map((_, i) => a.shape.length - 1 - i))];
    case 'Slice': {
      const spec =
        opset < 10
          ? sliceSpec(a.shape, attrInts(n, 'starts') ?? [], attrInts(n, 'ends') ?? [], attrInts(n, 'axes'), undefined)
          : sliceSpec(
              a.shape,
              ints(b),
              ints(ins[2] as Const),
              ins[3] ? ints(ins[3]) : undefined,
              ins[4] ? ints(ins[4]) : undefined,
            );
      return [slice(a, spec)];
    }
    case 'Cast':
      return [castTo(a, attrInt(n, 'to', 1))];
    case 'ConstantOfShape': {
      const v = n.attrs.get('value');
      const shape = ints(a);
      const c = v && v.kind === 't' ? v.v : mk('float32', [1], [0]);
      return [mk(c.dtype, shape, new Float64Array(size(shape)).fill(c.data[0] ?? 0))];
    }
    case 'Expand': {
      const shape = broadcastShape(a.shape, ints(b), `Expand '${n.name}'`);
      return [mk(a.dtype, shape, broadcastTo(a, shape))];
    }
    case 'Where': {
      const c = a;
      const x = b;
      const y = ins[2] as Const;
      const shape = broadcastShape(broadcastShape(c.shape, x.shape), y.shape, `Where '${n.name}'`);
      const cv = broadcastTo(c, shape);
      const xv = broadcastTo(x, shape);
      const yv = broadcastTo(y, shape);
      return [
        mk(
          x.dtype === 'float32' || y.dtype === 'float32' ? 'float32' : x.dtype,
          shape,
          Array.from(cv, (v, i) => (v ? xv[i] : yv[i])),
        ),
      ];
    }
    case 'Equal':
      return [binary(n, a, b, (x, y) => (x === y ? 1 : 0), 'bool')];
    case 'Less':
      return [binary(n, a, b, (x, y) => (x < y ? 1 : 0), 'bool')];
    case 'Greater':
      return [binary(n, a, b, (x, y) => (x > y ? 1 : 0), 'bool')];
    case 'LessOrEqual':
      return [binary(n, a, b, (x, y) => (x <= y ? 1 : 0), 'bool')];
    case 'GreaterOrEqual':
      return [binary(n, a, b, (x, y) => (x >= y ? 1 : 0), 'bool')];
    case 'And':
      return [binary(n, a, b, (x, y) => (x && y ? 1 : 0), 'bool')];
    case 'Or':
      return [binary(n, a, b, (x, y) => (x || y ? 1 : 0), 'bool')];
    case 'Not':
      return [
        mk(
          'bool',
          [...a.shape],
          Array.from(a.data, (v) => (v ? 0 : 1)),
        ),
      ];
    case 'Add':
      return [binary(n, a, b, (x, y) => x + y)];
    case 'Sub':
      return [binary(n, a, b, (x, y) => x - y)];
    case 'Mul':
      return [binary(n, a, b, (x, y) => x * y)];
    case 'Div':
      return [binary(n, a, b, a.dtype === 'int' && b.dtype === 'int' ? (x, y) => Math.trunc(x / y) : (x, y) => x / y)];
    case 'Mod':
      return [binary(n, a, b, (x, y) => x - Math.floor(x / y) * y)];
    case 'Pow':
      return [binary(n, a, b, (x, y) => x ** y, a.dtype)];
    case 'Min':
      return [ins.slice(1).reduce((acc: Const, c) => binary(n, acc, c as Const, Math.min), a)];
    case 'Max':
      return [ins.slice(1).reduce((acc: Const, c) => binary(n, acc, c as Const, Math.max), a)];
    case 'Neg':
      return [unary(a, (x) => -x)];
    case 'Sqrt':
      return [unary(a, Math.sqrt)];
    case 'Abs':
      return [unary(a, Math.abs)];
    case 'Exp':
      return [unary(a, Math.exp)];
    case 'Log':
      return [unary(a, Math.log)];
    case 'Reciprocal':
      return [unary(a, (x) => 1 / x)];
    case 'Floor':
      return [unary(a, Math.floor)];
    case 'Ceil':
      return [unary(a, Math.ceil)];
    case 'Sign':
      return [unary(a, Math.sign)];
    case 'Range': {
      const s = a.data[0];
      const lim = b.data[0];
      const d = (ins[2] as Const).data[0];
      const k = Math.max(Math.ceil((lim - s) / d), 0);
      return [
        mk(
          a.dtype,
          [k],
          Array.from({ length: k }, (_, i) => s + i * d),
        ),
      ];
    }
    case 'ReduceProd': {
      if (!(attrInts(n, 'axes') ?? (ins[1] ? ints(ins[1]) : undefined)) && attrInt(n, 'keepdims', 1) === 0)
        return [mk(a.dtype, [], [Array.from(a.data).reduce((x, y) => x * y, 1)])];
      throw badInput(`ONNX ReduceProd '${n.name}' with axes on constants is not supported`);
    }
    default:
      throw badInput(`ONNX ${n.op} '${n.name}' cannot be evaluated on constants`);
  }
}
