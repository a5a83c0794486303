/**
 * Run-time estimates for long evaluations (issue #24): one timed forward+backward (input-gradient)
 * pass of the model on the current backend is the unit every plan's stage cost is expressed in, so a
 * plan printed before the work (demo, scorecard) scales with the backend and the machine's load.
 */
import type { tf } from '../engine/index.js';
import type { DifferentiableModel } from '../models/model.js';
import { Oracle } from '../attacks/targets/oracle.js';
import { makeGoal } from '../attacks/goal.js';
import type { Images } from '../eval/robustness.js';

/** Seconds per image of one forward+backward pass of the model on this backend. */
export interface GradientCalibration {
  backend: string;
  gradientSecondsPerImage: number;
  batch: number;
}

/** Time one forward+backward pass of `batch` images through the model (after one warm-up pass). */
export async function calibrateGradient(
  model: DifferentiableModel,
  img: Images,
  backend: string,
  batch = 32,
): Promise<GradientCalibration> {
  const b = Math.min(batch, img.n);
  const d = img.x.length / img.n;
  const x = img.x.slice(0, b * d);
  const y = img.labels.slice(0, b);
  const oracle = new Oracle(model);
  const goal = makeGoal(model.task, model.classes.length, y);
  const loss = (v: tf.Tensor2D): tf.Tensor1D => goal.loss(v, 'ce');
  await oracle.lossGrad(x, goal, loss);
  const t0 = performance.now();
  await oracle.lossGrad(x, goal, loss);
  return { backend, gradientSecondsPerImage: (performance.now() - t0) / 1000 / b, batch: b };
}

/** "42 s" or "3.5 min". */
export const formatDuration = (sec: number): string =>
  sec < 90 ? `${Math.round(sec)} s` : `${(sec / 60).toFixed(1)} min`;
