/**
 * `replicate amit`: Amit et al.'s claim — every defence falls to an informed attacker who knows it
 * (Amit et al., "Adversarial attacks on medical image classifiers", and Tramèr et al., "On adaptive
 * attacks to adversarial example defenses", NeurIPS 2020) — tested with the scorecard on PneumoniaMNIST
 * and RetinaMNIST (or any list): adversarial training, JPEG, feature squeezing, KD+BU, LID, Mahalanobis,
 * the deep-feature random forest, MagNet and randomized smoothing, each non-adaptive vs adaptive.
 * Models: the shipped ones for PneumoniaMNIST (default ResNet-18, adv-cnn, noise-cnn); for another
 * dataset a ResNet-18 (w16) or CNN, a PGD-trained CNN and a noise-trained CNN are trained once and cached.
 */
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadDataset, type Dataset } from '../data/dataset.js';
import { newClassifier, fitClassifier } from '../models/factory.js';
import { loadClassifier, saveModel } from '../models/io.js';
import type { Classifier } from '../models/model.js';
import type { BatchHook } from '../models/train.js';
import { adversarialTraining } from '../defences/adversarial-training.js';
import { noiseAugmentation } from '../defences/smoothing.js';
import { selectImages } from '../data/images.js';
import { runScorecard, parseScorecardList } from '../eval/scorecard-entries.js';
import type { Scorecard } from '../eval/scorecard-types.js';
import { writeScorecardReport } from '../report/scorecard.js';
import { round } from '../models/metrics.js';

export const AMIT_CLAIM =
  'Amit et al.: an attacker who knows the defence evades all five state-of-the-art defences ' +
  'tested while still fooling the model; detectors that look near-perfect give false comfort';
export const AMIT_DEFENCES =
  'adversarial-training;jpeg:q=75;squeeze;kd_bu;lid;mahalanobis;deepfeature_rf;magnet;smoothing:sigma=0.25,n=100';

export interface AmitOptions {
  quick: boolean;
  seed: number;
  datasets: string[];
  defences?: string;
  eps: number;
  epsText: string;
  limit?: number;
  work?: string;
  report?: string;
  dataDir?: string;
  log: (s: string) => void;
}

async function cachedModel(
  o: AmitOptions,
  data: Dataset,
  kind: 'plain' | 'adv' | 'noise',
  epsTrain: number,
): Promise<Classifier> {
  if (data.name === 'pneumoniamnist') {
    const shipped = { plain: 'default', adv: 'adv-cnn', noise: 'noise-cnn' }[kind];
    return loadClassifier(shipped);
  }
  const arch = kind === 'plain' && !o.quick ? 'resnet18' : 'cnn';
  const epochs = o.quick ? 4 : 10;
  const dir = path.join(
    o.work ?? path.join(tmpdir(), 'medshield-replicate'),
    `amit-${data.name}-${kind}-${arch}-e${epochs}-s${o.seed}`,
  );
  if (existsSync(path.join(dir, 'model-card.json'))) return loadClassifier(dir);
  o.log(
    `training a ${kind === 'plain' ? '' : kind === 'adv' ? 'PGD-adversarially trained ' : 'noise-trained '}` +
      `${arch} on ${data.name} (${epochs} epochs)…`,
  );
  const m = newClassifier(arch, data, {
    width: arch === 'cnn' ? 32 : 16,
    seed: o.seed,
    name: `${arch}-${data.name}${kind === 'plain' ? '' : `-${kind}`}`,
  });
  const hook: BatchHook | undefined =
    kind === 'adv'
      ? adversarialTraining({ method: 'pgd', eps: epsTrain, steps: 5 }, m.task)
      : kind === 'noise'
        ? noiseAugmentation(0.25)
        : undefined;
  await fitClassifier(m, data, { epochs, batchSize: 64, seed: o.seed, batchHook: hook });
  await saveModel(m, dir);
  return m;
}

export interface AmitResult {
  paper: 'amit';
  claim: string;
  datasets: Array<{ dataset: string; scorecard: Scorecard; evaded: number; rows: number; report?: string }>;
  seconds: number;
}

export async function replicateAmit(o: AmitOptions, command: string): Promise<AmitResult> {
  const t0 = Date.now();
  const defences = parseScorecardList(o.defences ?? AMIT_DEFENCES);
  const out: AmitResult['datasets'] = [];
  for (const spec of o.datasets) {
    const data = await loadDataset(spec, { dataDir: o.dataDir });
    const model = await cachedModel(o, data, 'plain', o.eps);
    const advModel = defences.includes('adversarial-training') ? await cachedModel(o, data, 'adv', o.eps) : undefined;
    const noiseModel = defences.some((d) => d.startsWith('smoothing'))
      ? await cachedModel(o, data, 'noise', o.eps)
      : undefined;
    o.log(`scorecard on ${data.name}: ${defences.length} defences and detectors against ${model.card.name}`);
    const card = await runScorecard({
      model,
      modelDir: data.name === 'pneumoniamnist' ? 'default' : model.card.name,
      advModel,
      noiseModel,
      dataset: data.name,
      split: 'test',
      test: selectImages(data.splits.test, o.limit ?? (o.quick ? 64 : 300), o.seed),
      fit: selectImages(data.splits.train, o.quick ? 200 : 500, o.seed + 1),
      calibration: selectImages(data.splits.val, o.quick ? 200 : 500, o.seed + 2),
      defences,
      eps: o.eps,
      epsText: o.epsText,
      quick: o.quick,
      seed: o.seed,
      onProgress: (what) => o.log(`  ${what}`),
      onRow: (r) =>
        o.log(
          `  ${r.defence}: fooled & undetected ${r.nonAdaptive.fooledAndUndetected}` +
            ` → ${r.adaptive.fooledAndUndetected} (${r.verdict})`,
        ),
    });
    let report: string | undefined;
    if (o.report) {
      report = o.datasets.length > 1 ? o.report.replace(/(\.html?)?$/i, `-${data.name}.html`) : o.report;
      await writeScorecardReport(report, card, { command });
    }
    out.push({
      dataset: data.name,
      scorecard: card,
      evaded: card.rows.filter((r) => r.verdict === 'broken').length,
      rows: card.rows.length,
      report,
    });
  }
  return { paper: 'amit', claim: AMIT_CLAIM, datasets: out, seconds: round((Date.now() - t0) / 1000, 1) };
}

/** The text form of `replicate amit`. */
export function formatAmit(r: AmitResult): string {
  let s = `${r.claim}\n`;
  for (const d of r.datasets) {
    s +=
      `\n${d.dataset} (${d.scorecard.model.name}, n=${d.scorecard.n}, ε = ${d.scorecard.epsText}): ` +
      `${d.evaded} of ${d.rows} broken by the adaptive attacker${d.report ? `; report ${d.report}` : ''}\n`;
    s += `  ${'defence'.padEnd(28)} fooled & undetected: non-adaptive → adaptive   verdict\n`;
    for (const row of d.scorecard.rows) {
      s +=
        `  ${row.defence.padEnd(28)} ${row.nonAdaptive.fooledAndUndetected.toFixed(3)}` +
        ` → ${row.adaptive.fooledAndUndetected.toFixed(3)}${' '.repeat(20)}` +
        `${row.verdict}` +
        `${row.sanity.passed || row.sanity.skipped ? '' : ` (sanity: ${row.sanity.failures.join(', ')})`}\n`;
    }
  }
  return s + `\n${r.seconds} s\n`;
}
