/**
 * Reverse-mode differentiation that frees memory as it goes.
 *
 * tfjs' `Engine.gradients` (tfjs-core engine.ts + tape.ts `backpropagateGradients`) keeps every
 * intermediate gradient and every tensor a kernel saved for its backward pass until the whole
 * backward pass ends. Its peak is therefore all saved activations plus the gradients of all of
 * them — about twice what PyTorch's autograd holds, which releases a node's saved tensors once
 * the node has run backward and a gradient once its producer has consumed it (Paszke et al.,
 * "Automatic differentiation in PyTorch", NIPS-W 2017). Measured at 224 px: ResNet-50's input
 * gradient peaked at 1.95× PyTorch's RSS, and full-width ResNet-50 training at 28 px at 18 GB.
 *
 * This replacement walks the same filtered tape (`filterTape` = tfjs' getFilteredNodesXToY) in
 * the same order with the same gradient functions and the same accumulation (so the results are
 * bit-identical), but runs each node's gradient in its own tidy, disposes the node's saved tensors
 * right after it, and drops an output's accumulated gradient once its producer has used it.
 * It does so only at gradient depth 0 — not inside another tf.grad, whose tape may still need
 * them — exactly where tfjs itself disposes saved tensors; nested calls run tfjs' original.
 * `MEDSHIELD_TFJS_BACKPROP=1` restores tfjs' original everywhere (for comparisons).
 */
import * as tf from '@tensorflow/tfjs';

interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
  gradient?: (dys: Array<tf.Tensor | null>) => Record<string, () => tf.Tensor>;
  saved?: tf.Tensor[];
}

type GradientsFn = (
  f: () => tf.Tensor,
  xs: tf.Tensor[],
  dy?: tf.Tensor,
  allowNoGradients?: boolean,
) => { value: tf.Tensor; grads: tf.Tensor[] };

interface EngineInternals {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  gradients: GradientsFn;
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  startTape(): void;
  endTape(): void;
  tidy<T extends tf.TensorContainer>(nameOrFn: string | (() => T), fn?: () => T): T;
}

/** The nodes of `tape` on a path from `xs` to `y`, inputs not depending on `xs` pruned (tfjs' rule). */
export function filterTape(tape: TapeNode[], xs: tf.Tensor[], y: tf.Tensor): TapeNode[] {
  const fromX = new Set<number>(xs.map((x) => x.id));
  const nodesFromX = new Set<number>();
  for (const node of tape) {
    for (const name in node.inputs) {
      if (fromX.has(node.inputs[name].id)) {
        for (const o of node.outputs) fromX.add(o.id);
        nodesFromX.add(node.id);
        break;
      }
    }
  }
  const leadToY = new Set<number>([y.id]);
  const nodesToY = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i];
    if (node.outputs.some((o) => leadToY.has(o.id))) {
      for (const name in node.inputs) {
        leadToY.add(node.inputs[name].id);
        nodesToY.add(node.id);
      }
    }
  }
  const out: TapeNode[] = [];
  for (const node of tape) {
    if (!nodesFromX.has(node.id) || !nodesToY.has(node.id)) continue;
    const inputs: Record<string, tf.Tensor> = {};
    for (const name in node.inputs) if (fromX.has(node.inputs[name].id)) inputs[name] = node.inputs[name];
    out.push({ ...node, inputs, outputs: node.outputs });
  }
  return out;
}

/**
 * What tfjs saves for two common gradients, trimmed (every backend; identical gradients):
 * - ReLU keeps its output instead of its input: dy·[y > 0] = dy·[x > 0] exactly, and the output is
 *   usually kept anyway by the next op (a conv saves its input), so a conv → BN → ReLU chain stops
 *   holding both the BN output and the ReLU output;
 * - Add / Sub of two same-shape tensors keep nothing (tfjs keeps both operands only to read their
 *   shapes for broadcasting; with equal shapes the gradients are dy and ±dy) — a residual sum
 *   no longer pins the branch's last activation.
 */
type SaveList = (kernelName: string, inputs: Record<string, tf.Tensor>, outputs: tf.Tensor[]) => tf.Tensor[];

function installLeanSaves(engine: EngineInternals & { getTensorsForGradient?: SaveList }): void {
  const relu = tf.getGradient('Relu');
  if (relu) tf.registerGradient({ ...relu, inputsToSave: [], outputsToSave: [true] });
  for (const name of ['Add', 'Sub']) {
    const g = tf.getGradient(name);
    if (!g) continue;
    const orig = g.gradFunc;
    tf.registerGradient({
      ...g,
      gradFunc: (dy, saved, attrs) => {
        if (saved.length) return orig(dy, saved, attrs);
        const d = dy as tf.Tensor;
        return { a: () => tf.reshape(d, d.shape), b: () => (name === 'Add' ? tf.reshape(d, d.shape) : tf.neg(d)) };
      },
    });
  }
  const getTensors = engine.getTensorsForGradient;
  if (typeof getTensors !== 'function') return;
  engine.getTensorsForGradient = function (this: unknown, kernelName, inputs, outputs) {
    if ((kernelName === 'Add' || kernelName === 'Sub') && inputs.a && inputs.b) {
      const a = inputs.a.shape;
      const b = inputs.b.shape;
      if (a.length === b.length && a.every((d, i) => d === b[i])) return [];
    }
    return getTensors.call(this, kernelName, inputs, outputs);
  } as SaveList;
}

let installed = false;

/** Replace the engine's `gradients` by the freeing walk above (idempotent). */
export function installFrugalBackprop(): void {
  if (installed || process.env.MEDSHIELD_TFJS_BACKPROP === '1') return;
  const engine = tf.engine() as unknown as EngineInternals;
  if (typeof engine.gradients !== 'function' || !engine.state) return;
  installLeanSaves(engine);
  const original = engine.gradients.bind(engine);
  engine.gradients = function (this: EngineInternals, f, xs, dy, allowNoGradients = false) {
    if (this.state.gradientDepth !== 0) return original(f, xs, dy, allowNoGradients);
    if (xs.length === 0) throw new Error('gradients() received an empty list of xs.');
    if (dy != null && dy.dtype !== 'float32') throw new Error(`dy must have 'float32' dtype, but has '${dy.dtype}'`);
    const y = this.scopedRun(
      () => this.startTape(),
      () => this.endTape(),
      () => this.tidy('forward', f),
    );
    if (!(y instanceof tf.Tensor)) throw new Error('The result y returned by f() must be a tensor.');
    const tape = this.state.activeTape ?? [];
    const filtered = filterTape(tape, xs, y);
    if (!allowNoGradients && filtered.length === 0 && xs.length > 0)
      throw new Error(
        'Cannot compute gradient of y=f(x) with respect to x. Make sure that the f you passed encloses ' +
          'all operations that lead from x to y.',
      );
    return this.tidy('backward', () => {
      const acc = new Map<number, tf.Tensor>();
      // How many map entries hold each gradient tensor (a gradient function may return one tensor twice).
      const refs = new Map<tf.Tensor, number>();
      const keepIds = new Set(xs.map((x) => x.id));
      const protectedTensors = new Set<tf.Tensor>();
      const set = (id: number, t: tf.Tensor) => {
        acc.set(id, t);
        refs.set(t, (refs.get(t) ?? 0) + 1);
      };
      const release = (t: tf.Tensor) => {
        const r = (refs.get(t) ?? 0) - 1;
        if (r > 0) refs.set(t, r);
        else {
          refs.delete(t);
          if (!protectedTensors.has(t)) t.dispose();
        }
      };
      const seed = dy ?? tf.ones(y.shape);
      if (dy) protectedTensors.add(dy);
      set(y.id, seed);
      for (let i = filtered.length - 1; i >= 0; i--) {
        const node = filtered[i];
        if (node.gradient == null)
          throw new Error(`Cannot compute gradient: gradient function not found for ${node.kernelName}.`);
        const dys = node.outputs.map((o) => acc.get(o.id) ?? null);
        const names = Object.keys(node.inputs);
        const dxs = this.tidy(() => {
          const g = node.gradient!(dys);
          return names.map((name) => {
            if (!(name in g))
              throw new Error(`Cannot backprop through input ${name}. Available gradients found: ${Object.keys(g)}.`);
            const dx = g[name]();
            if (dx.dtype !== 'float32')
              throw new Error(
                `Error in gradient for op ${node.kernelName}. The gradient of input ${name} must have ` +
                  `'float32' dtype, but has '${dx.dtype}'`,
              );
            const x = node.inputs[name];
            if (dx.shape.length !== x.shape.length || dx.shape.some((d, j) => d !== x.shape[j]))
              throw new Error(
                `Error in gradient for op ${node.kernelName}. The gradient of input '${name}' has shape ` +
                  `'${dx.shape}', which does not match the shape of the input '${x.shape}'`,
              );
            return dx;
          });
        });
        names.forEach((name, j) => {
          const x = node.inputs[name];
          const dx = dxs[j];
          const cur = acc.get(x.id);
          if (cur == null) set(x.id, dx);
          else {
            set(x.id, tf.add(cur, dx));
            release(cur);
            if (!refs.has(dx) && !protectedTensors.has(dx) && !dys.includes(dx)) dx.dispose();
          }
        });
        // This node's outputs have all their gradient consumers behind us: drop their gradients and its saved tensors.
        for (const o of node.outputs) {
          const g = acc.get(o.id);
          if (g == null || keepIds.has(o.id)) continue;
          acc.delete(o.id);
          release(g);
        }
        for (const t of node.saved ?? []) if (!dxs.includes(t)) t.dispose();
      }
      const grads = xs.map((x) => acc.get(x.id) as tf.Tensor);
      for (const node of tape) for (const t of node.saved ?? []) t.dispose();
      this.state.activeTape = null;
      return { value: y, grads } as unknown as tf.TensorContainer;
    }) as unknown as { value: tf.Tensor; grads: tf.Tensor[] };
  } as GradientsFn;
  installed = true;
}

/**
 * Run `f` with the gradient tape paused: inside a `tf.grad` its kernels are not recorded (nothing is saved for a
 * backward pass), for a forward pass whose values the gradient does not depend on — e.g. choosing which branch of a
 * max to differentiate. Its tensors must not be used in the differentiated result: no gradient would flow through
 * them.
 */
export function untaped<T>(f: () => T): T {
  const state = (tf.engine() as unknown as EngineInternals).state;
  const depth = state.gradientDepth;
  state.gradientDepth = 0;
  try {
    return f();
  } finally {
    state.gradientDepth = depth;
  }
}
