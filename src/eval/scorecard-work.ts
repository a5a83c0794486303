/**
 * Work counts of the scorecard (issue #24, profiling `--quick`): how many images went through each model,
 * counted where it happens — every call of `logits`, `features`, `probs` or `predictProbs` on a model the
 * scorecard uses, split into calls made with a gradient tape on (a forward pass that is also
 * back-propagated: one forward+backward) and calls without (a forward pass). Load-independent, unlike
 * seconds: on a loaded machine the counts stay what they are and the seconds per pass do not.
 *
 * A `features(x, layer)` call counts one image per call even when the same x was already run up to that
 * layer (what the counts measure is the work done, not the work needed).
 */
import { tf } from '../engine/index.js';
import type { DifferentiableModel } from '../models/model.js';

/** Images through one model: with a gradient tape on (forward+backward), without (forward only), and calls. */
export interface WorkCount {
  gradientImages: number;
  forwardImages: number;
  calls: number;
}

const COUNTED = new Set(['logits', 'features', 'featuresMany', 'probs', 'predictProbs']);

function tapeOn(): boolean {
  const s = (tf.engine() as unknown as { state: { gradientDepth: number } }).state;
  return s.gradientDepth > 0;
}

/**
 * Batch sizes the wrapped model runs (`pad`): 1, 2, 3, 4, 6, 8, 12, 16, 24, … (×1.5 steps). The native backend
 * builds its kernels (oneDNN primitives) once per input shape; an attack with early stopping shrinks its batch
 * by an image or two at most steps, and every new size paid that build again — seconds per step for the
 * full-width ResNet-18, more than the pass itself. Padding to these sizes costs at most half a batch of extra
 * rows and builds a dozen shapes in a whole scorecard.
 */
export function paddedSize(n: number): number {
  if (n <= 4) return n;
  let a = 4;
  let b = 6;
  while (b < n) [a, b] = [b, a * 2];
  return b;
}

/** Run f on x padded with zero images to `paddedSize`, and keep the first n rows of every output. */
function padded<T extends tf.Tensor | tf.Tensor[]>(x: tf.Tensor, f: (x: tf.Tensor) => T): T {
  const n = x.shape[0];
  const m = paddedSize(n);
  if (m === n) return f(x);
  return tf.tidy(() => {
    const xp = tf.concat([x, tf.zeros([m - n, ...x.shape.slice(1)])], 0);
    const out = f(xp);
    const cut = (t: tf.Tensor): tf.Tensor => t.slice(0, n);
    return (Array.isArray(out) ? out.map(cut) : cut(out)) as T;
  });
}

interface Memo {
  x: tf.Tensor;
  tape: unknown;
  values: Map<string, tf.Tensor>;
}

/**
 * Counters per model name; `wrap` returns a model that counts into them (and, with `share`, runs the layers of one
 * input once), `take` reads and resets them.
 */
export class WorkCounter {
  private counts = new Map<string, WorkCount>();
  private depth = 0;

  /**
   * The model behind a Proxy that counts its top-level passes (nested calls — `probs` calling `logits` — count
   * once). Everything else, `instanceof` included, is the model's own.
   *
   * `share` (a `Classifier`): `logits(x)` and `features(x, layer)` of the same input tensor inside the same
   * gradient tape come from one forward pass (`InferenceGraph.runMany`) — the values `run` gives for each, and
   * the gradient flows through the shared graph. An adaptive attack on a detector reads the logits and five
   * feature layers of every iterate; unshared, that is 1 + ≈ 3.5 passes of the network up to each layer. The
   * counts then count the passes actually run.
   */
  wrap<M extends DifferentiableModel>(model: M, o: { share?: boolean; pad?: boolean } = {}): M {
    const name = model.card?.name ?? 'model';
    const self = this;
    const inference = (model as unknown as { inference?: InferenceLike }).inference;
    const net = (model as unknown as { net?: tf.LayersModel }).net;
    const share = !!o.share && !!inference?.runMany && !!net;
    let memo: Memo | null = null;
    const layers = share ? [...model.featureNames] : [];
    const memoFor = (x: tf.Tensor4D): Memo | null => {
      const state = (tf.engine() as unknown as { state: { activeTape: unknown } }).state;
      return memo && memo.x === x && memo.tape === state.activeTape ? memo : null;
    };
    // one forward pass for the logits and every feature layer of x, kept for this gradient tape
    const sharedPass = (x: tf.Tensor4D, layer: string): tf.Tensor => {
      const state = (tf.engine() as unknown as { state: { activeTape: unknown } }).state;
      const hit = memoFor(x)?.values.get(layer);
      if (hit && !hit.isDisposed) return hit;
      if (self.depth === 0) self.add(name, x.shape[0], true);
      const targets = [net!.outputs[0]!, ...layers.map((l) => net!.getLayer(l).output as tf.SymbolicTensor)];
      const out = o.pad ? padded(x, (v) => inference!.runMany!(v, targets)) : inference!.runMany!(x, targets);
      const values = new Map<string, tf.Tensor>([['logits', out[0]!]]);
      layers.forEach((l, i) => values.set(l, out[i + 1]!));
      memo = { x, tape: state.activeTape, values };
      return values.get(layer)!;
    };
    // the last predictProbs call: a pipeline's judge asks for the same images' probabilities twice (the deployed
    // model, then a detector that reads them too); the same values again are not a pass
    let lastProbs: { x: Float32Array; out: Float32Array } | null = null;
    const sameImages = (a: Float32Array, b: Float32Array): boolean => {
      if (a.length !== b.length) return false;
      for (let i = 0; i < a.length; i++) if (a[i] !== b[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return false;
      return true;
    };
    return new Proxy(model, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver);
        if (typeof prop !== 'string' || !COUNTED.has(prop) || typeof v !== 'function') return v;
        return function (this: unknown, ...args: unknown[]) {
          // inside a gradient tape (an attack's step) the tape keeps every value alive until the gradient is
          // taken, so sharing one pass between logits and features costs no memory; outside, no sharing
          if (prop === 'predictProbs' && self.depth === 0) {
            const [x, n] = args as [Float32Array, number];
            // only a call whose array holds exactly its n images is remembered
            const exact = n > 0 && x.length === n * model.inputShape.reduce((p, q) => p * q, 1);
            if (exact && lastProbs && sameImages(lastProbs.x, x)) return Promise.resolve(lastProbs.out.slice());
            self.add(name, n, false);
            self.depth++;
            return (v as (...a: unknown[]) => Promise<Float32Array>)
              .apply(this, args)
              .then((out) => {
                lastProbs = exact ? { x: x.slice(), out: out.slice() } : null;
                return out;
              })
              .finally(() => self.depth--);
          }
          if (share && (prop === 'logits' || prop === 'features' || prop === 'featuresMany') && tapeOn()) {
            const wanted =
              prop === 'featuresMany'
                ? (args[1] as string[])
                : [prop === 'logits' ? 'logits' : ((args[1] as string | undefined) ?? 'penultimate')];
            if (wanted.every((l) => l === 'logits' || layers.includes(l))) {
              const out = wanted.map((l) => sharedPass(args[0] as tf.Tensor4D, l));
              return prop === 'featuresMany' ? out : out[0];
            }
          }
          // probs(x) of an iterate whose shared pass already ran reads that pass: nothing new runs
          const shared = share && prop === 'probs' && tapeOn() && memoFor(args[0] as tf.Tensor4D) !== null;
          if (self.depth === 0 && !shared) {
            const x = args[0] as tf.Tensor | Float32Array;
            const n = prop === 'predictProbs' ? (args[1] as number) : (x as tf.Tensor).shape[0];
            self.add(name, n, prop !== 'predictProbs' && tapeOn());
          }
          self.depth++;
          try {
            // logits and features run on a padded batch (`paddedSize`); probs and predictProbs call them
            const r =
              o.pad && (prop === 'logits' || prop === 'features' || prop === 'featuresMany')
                ? padded(args[0] as tf.Tensor, (xp) =>
                    (v as (...a: unknown[]) => tf.Tensor).call(this, xp, ...args.slice(1)),
                  )
                : (v as (...a: unknown[]) => unknown).apply(this, args);
            if (r instanceof Promise) return r.finally(() => self.depth--);
            self.depth--;
            return r;
          } catch (e) {
            self.depth--;
            throw e;
          }
        };
      },
    });
  }

  private add(name: string, n: number, gradient: boolean): void {
    const c = this.counts.get(name) ?? { gradientImages: 0, forwardImages: 0, calls: 0 };
    if (gradient) c.gradientImages += n;
    else c.forwardImages += n;
    c.calls++;
    this.counts.set(name, c);
  }

  /** The counts since the last `take`, per model name, and reset. */
  take(): Record<string, WorkCount> {
    const out = Object.fromEntries(this.counts);
    this.counts = new Map();
    return out;
  }
}

interface InferenceLike {
  runMany?(x: tf.Tensor, targets: tf.SymbolicTensor[]): tf.Tensor[];
}
