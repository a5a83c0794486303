/**
 * Optional input defences and adversarial-input detectors of the gateway (config `defences`, `detectors`).
 *
 * Defences (src/defences, e.g. JPEG re-compression, Das et al. 2017; bit-depth reduction, Xu et al. 2018)
 * wrap the served model: defended(x) = f(t_1(…t_k(x))), the specs applied left to right to every image.
 * Detectors (src/detectors, saved by `medshield detect --save`) score the *undefended* decoded image on the
 * undefended differentiable model they were fitted on; score s > threshold τ ⇒ suspicious, and the
 * configured action applies: `reject` (422, no prediction) or `flag` (answer carries {detector, score}).
 * Loading refuses a detector fitted on another model, a missing folder or a forward-only model.
 *
 * Usage: `const inp = await loadInputDefences(config, model); const v = await screenInput(inp, x);`
 */
import path from 'node:path';
import { getDefence } from '../defences/registry.js';
import { loadDetector } from '../detectors/registry.js';
import type { Detector } from '../detectors/types.js';
import type { DifferentiableModel, Model } from '../models/model.js';
import { MedshieldError, oneLine, unsupported } from '../errors.js';
import type { DetectorAction, GatewayConfig } from './config.js';
import { MicroBatcher } from './inference.js';

export interface LoadedDetector {
  label: string;
  dir: string;
  detector: Detector;
  threshold: number;
  action: DetectorAction;
  batcher?: MicroBatcher<number>;
}

/**
 * Detectors whose score of an image does not depend on the other images scored with it (forward passes
 * of the model or of an autoencoder only): their requests are micro-batched like the model's (all images
 * that arrive in one turn of the event loop, up to 32, scored in one call). KD-BU (dropout masks drawn
 * per batch size) and the others are scored one image at a time, as `detect` fitted them.
 */
const BATCH_SAFE = new Set(['squeeze', 'magnet']);

export interface InputDefences {
  /** The model that answers: `model` wrapped by every configured defence (itself when none). */
  served: Model;
  detectors: LoadedDetector[];
  /** The undefended model the detectors score on. */
  model: Model;
}

export interface DetectorVerdict {
  detector: string;
  score: number;
  threshold: number;
  action: DetectorAction;
  triggered: boolean;
}

/** Build the defended model and load the detectors; any problem throws one line naming the config entry. */
export async function loadInputDefences(
  config: Pick<GatewayConfig, 'defences' | 'detectors'>,
  model: Model,
): Promise<InputDefences> {
  const defences = config.defences.map((spec, i) => {
    try {
      return getDefence(spec);
    } catch (e) {
      throw new MedshieldError(
        e instanceof MedshieldError ? e.code : 'BAD_INPUT',
        `gateway config: defences.${i} '${spec}': ${oneLine(e)}`,
      );
    }
  });
  // t_1 is applied first: wrap from the last defence inwards.
  let served: Model = model;
  for (let i = defences.length - 1; i >= 0; i--) served = defences[i].wrap(served, { seed: 0 });
  const detectors: LoadedDetector[] = [];
  const seen = new Map<string, number>();
  for (const [i, d] of config.detectors.entries()) {
    if (!model.differentiable)
      throw unsupported(
        `gateway config: detectors.${i}: the model '${model.card.name}' is ` +
          `forward-only (ONNX); detectors need a differentiable medshield model`,
      );
    let detector: Detector;
    try {
      detector = await loadDetector(d.dir, model as DifferentiableModel);
    } catch (e) {
      throw new MedshieldError(
        e instanceof MedshieldError ? e.code : 'BAD_INPUT',
        `gateway config: detectors.${i}: ${oneLine(e)}`,
      );
    }
    const k = (seen.get(detector.name) ?? 0) + 1;
    seen.set(detector.name, k);
    const label = k === 1 ? detector.name : `${detector.name}#${k}`;
    const batcher = BATCH_SAFE.has(detector.name)
      ? new MicroBatcher<number>(async (xs, n) => Array.from(await detector.score(model as DifferentiableModel, xs, n)))
      : undefined;
    detectors.push({ label, dir: path.resolve(d.dir), detector, threshold: d.threshold, action: d.action, batcher });
  }
  return { served, detectors, model };
}

/** Score one model input (HWC in [0,1]) with every detector. */
export async function screenInput(inp: InputDefences, x: Float32Array): Promise<DetectorVerdict[]> {
  const out: DetectorVerdict[] = [];
  for (const d of inp.detectors) {
    const s = d.batcher ? await d.batcher.call(x) : (await d.detector.score(inp.model as DifferentiableModel, x, 1))[0];
    // A score that is not a number cannot be cleared: treat it as suspicious.
    const triggered = !(s <= d.threshold);
    out.push({ detector: d.label, score: s, threshold: d.threshold, action: d.action, triggered });
  }
  return out;
}

/** Compact text for the audit record: `squeeze=0.512345>0.2:reject, kd_bu=0.01<=0.3`. */
export function verdictText(v: DetectorVerdict[]): string {
  return v
    .map(
      (d) =>
        `${d.detector}=${fmt(d.score)}${d.triggered ? '>' : '<='}` +
        `${fmt(d.threshold)}${d.triggered ? `:${d.action}` : ''}`,
    )
    .join(', ');
}

const fmt = (v: number): string => (Number.isFinite(v) ? Number(v.toPrecision(6)).toString() : String(v));
