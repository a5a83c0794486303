/**
 * Ops of an imported graph with a gradient for the activation only, saving as little as possible
 * for the backward pass.
 *
 * An imported ONNX model's weights are constants (initialisers, never trained), so a backward pass
 * through it only ever needs input gradients. tfjs' generic ops save what a weight gradient or
 * a broadcast would need: `Add`/`Mul` keep both operands (Add only for their shapes), MatMul keeps
 * the activation, a composed GELU keeps four tensors of the MLP width. Each op here is the same
 * forward computation (same tfjs kernels, same float results) under `tf.customGrad`, saving only
 * what its input gradient reads — for PyTorch's counterpart of the idea see its autograd "saved
 * tensors" notes (https://pytorch.org/docs/stable/autograd.html#saved-tensors). The constants are
 * closed over, never inputs of the tape node, so nothing is ever computed for them.
 */
import { siluGrad, tf } from '../../engine/index.js';

type Custom = { value: tf.Tensor; gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor | tf.Tensor[] };
/** tf.customGrad over a function of tensors and tfjs' save callback (last argument). */
function custom<A extends tf.Tensor[]>(f: (...args: [...A, tf.GradSaveFunc]) => Custom): (...args: A) => tf.Tensor {
  return tf.customGrad(f as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (...args: A) => tf.Tensor;
}

const sameShape = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((d, i) => d === b[i]);

/**
 * x ⊙ c for an elementwise op with a constant c that broadcasts into x's shape (the output has
 * x's shape): Add/Sub save nothing, Mul/Div nothing but the closed-over constant. `cFirst` for
 * c − x and c / x (Div saves its output then). Null when c would broadcast x (then the caller
 * runs the plain op).
 */
export function constBinary(
  op: 'Add' | 'Sub' | 'Mul' | 'Div',
  x: tf.Tensor,
  c: tf.Tensor,
  cFirst = false,
): tf.Tensor | null {
  if (x.dtype !== 'float32' || c.dtype !== 'float32') return null;
  if (c.rank > x.rank) return null;
  const off = x.rank - c.rank;
  if (!c.shape.every((d, i) => d === 1 || d === x.shape[off + i])) return null;
  if (op === 'Div' && cFirst) {
    // y = c / x, dy/dx = −y / x … needs x: keep the plain op.
    return null;
  }
  const f = custom((xx: tf.Tensor, save: tf.GradSaveFunc) => {
    let value: tf.Tensor;
    if (op === 'Add') value = tf.add(xx, c);
    else if (op === 'Sub') value = cFirst ? tf.sub(c, xx) : tf.sub(xx, c);
    else if (op === 'Mul') value = tf.mul(xx, c);
    else value = tf.div(xx, c);
    save([]);
    return {
      value,
      gradFunc: (dy: tf.Tensor) => {
        if (op === 'Add' || (op === 'Sub' && !cFirst)) return [tf.clone(dy)];
        if (op === 'Sub') return [tf.neg(dy)];
        if (op === 'Mul') return [tf.mul(dy, c)];
        return [tf.div(dy, c)];
      },
    };
  });
  return f(x);
}

/** relu(a + b) for two activations of one shape, saving only the output (its mask is y > 0). */
export function addRelu(a: tf.Tensor, b: tf.Tensor): tf.Tensor | null {
  if (!sameShape(a.shape, b.shape) || a.dtype !== 'float32' || b.dtype !== 'float32') return null;
  const f = custom((aa: tf.Tensor, bb: tf.Tensor, save: tf.GradSaveFunc) => {
    const value = tf.relu(tf.add(aa, bb));
    save([value]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const m = tf.mul(dy, tf.step(saved[0]));
        return [m, tf.clone(m)];
      },
    };
  });
  return f(a, b);
}

/**
 * GELU, erf form (ONNX Gelu / PyTorch's exported Div→Erf→Add→Mul→Mul): the forward is the same
 * composition of tfjs ops; the gradient Φ(x) + x·φ(x) saves x alone.
 */
export function gelu(x: tf.Tensor): tf.Tensor {
  const f = custom((xx: tf.Tensor, save: tf.GradSaveFunc) => {
    save([xx]);
    const value = tf.mul(tf.mul(xx, 0.5), tf.add(1, tf.erf(tf.mul(xx, Math.SQRT1_2))));
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const t = saved[0];
        const cdf = tf.mul(0.5, tf.add(1, tf.erf(tf.mul(t, Math.SQRT1_2))));
        const pdf = tf.mul(1 / Math.sqrt(2 * Math.PI), tf.exp(tf.mul(-0.5, tf.square(t))));
        return [tf.mul(dy, tf.add(cdf, tf.mul(t, pdf)))];
      },
    };
  });
  return f(x);
}

/**
 * x · W for an activation x [..., k] and a constant 2-D W (W as [k, n], or [n, k] with `transB`):
 * one matMul over the flattened leading axes; saves nothing (dx = dy · Wᵀ).
 */
export function constMatMul(x: tf.Tensor, w: tf.Tensor2D, transB: boolean): tf.Tensor | null {
  if (x.dtype !== 'float32' || x.rank < 2) return null;
  const k = x.shape[x.rank - 1];
  if ((transB ? w.shape[1] : w.shape[0]) !== k) return null;
  const n = transB ? w.shape[0] : w.shape[1];
  const lead = x.shape.slice(0, -1);
  const f = custom((xx: tf.Tensor, save: tf.GradSaveFunc) => {
    save([]);
    const y = tf.matMul(tf.reshape(xx, [-1, k]) as tf.Tensor2D, w, false, transB);
    return {
      value: x.rank === 2 ? y : tf.reshape(y, [...lead, n]),
      gradFunc: (dy: tf.Tensor) => [
        tf.reshape(tf.matMul(tf.reshape(dy, [-1, n]) as tf.Tensor2D, w, false, !transB), x.shape),
      ],
    };
  });
  return f(x);
}

/**
 * x·σ(x) (SiLU, exported as Sigmoid → Mul): same forward; the gradient σ(1 + x(1 − σ)) saves x alone
 * (one native pass on the native backend: engine `siluGrad`).
 */
export function silu(x: tf.Tensor): tf.Tensor {
  const f = custom((xx: tf.Tensor, save: tf.GradSaveFunc) => {
    save([xx]);
    return {
      value: tf.mul(xx, tf.sigmoid(xx)),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const fused = siluGrad(dy, saved[0]);
        if (fused) return [fused];
        const sg = tf.sigmoid(saved[0]);
        return [tf.mul(dy, tf.mul(sg, tf.add(1, tf.mul(saved[0], tf.sub(1, sg)))))];
      },
    };
  });
  return f(x);
}

/**
 * Layer normalisation over the last axis with constant γ, β (Ba et al. 2016): the forward is the
 * decomposed ONNX form (mean, x − μ, mean of its square, + ε, √, ÷, · γ, + β); the backward pass
 * keeps x̂ and √(σ² + ε) only: dx = (g − mean(g) − x̂·mean(g·x̂)) / √(σ² + ε), g = dy·γ.
 */
export function layerNorm(x: tf.Tensor, eps: number, gamma: tf.Tensor | null, beta: tf.Tensor | null): tf.Tensor {
  const ax = x.rank - 1;
  const f = custom((xx: tf.Tensor, save: tf.GradSaveFunc) => {
    const d = tf.sub(xx, tf.mean(xx, ax, true));
    const sd = tf.sqrt(tf.add(tf.mean(tf.square(d), ax, true), eps));
    const xhat = tf.div(d, sd);
    save([xhat, sd]);
    let y = xhat;
    if (gamma) y = tf.mul(y, gamma);
    if (beta) y = tf.add(y, beta);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xh, s] = saved;
        const g = gamma ? tf.mul(dy, gamma) : dy;
        const dx = tf.sub(tf.sub(g, tf.mean(g, ax, true)), tf.mul(xh, tf.mean(tf.mul(g, xh), ax, true)));
        return [tf.div(dx, s)];
      },
    };
  });
  return f(x);
}

/** tf.reshape whose backward pass keeps nothing (tfjs' Reshape gradient keeps x alive for its shape). */
export function reshape(x: tf.Tensor, shape: number[]): tf.Tensor {
  if (x.dtype !== 'float32') return tf.reshape(x, shape);
  const inShape = x.shape;
  const f = custom((xx: tf.Tensor, save: tf.GradSaveFunc) => {
    save([]);
    return { value: tf.reshape(xx, shape), gradFunc: (dy: tf.Tensor) => [tf.reshape(dy, inShape)] };
  });
  return f(x);
}
