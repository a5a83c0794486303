/**
 * `demo(spec)`: the main job on the embedded default — the shipped ResNet-18 on the shipped
 * PneumoniaMNIST: clean accuracy, then how easily its diagnoses flip (white-box PGD, black-box Square
 * through the probabilities, transfer from the shipped surrogate), then the story of Amit et al.
 * (Amit et al., "Adversarial attacks on medical image classifiers: the false comfort of detectors"):
 * a KD+BU detector (Feinman et al. 2017, fitted Ma et al.'s way) catches the PGD films, an informed
 * attacker evades it, and a signed-image pipeline rejects the tampered film. The experiment is
 * src/studies/story.ts; this verb plans it (calibrated cost), runs it and assembles the result that
 * `medshield demo --json` prints; `formatDemo` is its text form.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { initEngine } from '../engine/index.js';
import { loadDataset, labelCounts } from '../data/dataset.js';
import { loadClassifier, surrogateModelDir } from '../models/io.js';
import { predictions, round } from '../models/metrics.js';
import { selectImages } from '../data/images.js';
import {
  calibrateDemo,
  planDemo,
  runDemo,
  DEMO_BUDGET_SECONDS,
  DEMO_DEFAULT_IMAGES,
  type DemoPlan,
  type DemoHooks,
  type DemoStageResult,
} from '../studies/story.js';
import { encodePng } from '../eval/examples.js';
import { formatDuration } from '../studies/cost.js';
import { tamperDemo, type TamperDemo } from '../provenance/tamper-demo.js';
import { validateSpec } from './common.js';

export { DEMO_BUDGET_SECONDS, DEMO_DEFAULT_IMAGES, type DemoPlan, type DemoStageResult };

/** The demo's spec: the seed and how many test films to attack (default: as many as fit the budget). */
export interface DemoSpec {
  seed?: number;
  /** Test films attacked in the attack stages (default 128, fewer when the calibration says the backend is slow). */
  attackImages?: number;
  /** Attack the default number of films whatever the estimate. */
  full?: boolean;
}

export const DEMO_SPEC_SCHEMA = {
  $id: 'medshield:demo-spec',
  type: 'object',
  additionalProperties: false,
  properties: {
    seed: { type: 'integer', minimum: 0, maximum: 2 ** 32 - 1 },
    attackImages: { type: 'integer', minimum: 1, maximum: 100000 },
    full: { type: 'boolean' },
  },
} as const;

/** What `medshield demo --json` prints. */
export interface DemoSummary {
  model: { name: string; architecture: string; width: number; parameters: number; cardTest: unknown };
  dataset: { name: string; split: 'test'; n: number; classCounts: Record<string, number> };
  test: { accuracy: number; auc: number };
  confusion: { rows: string; columns: string; classes: string[]; matrix: number[][] };
  attacks: Array<{
    attack: string;
    threatModel?: string;
    eps: string;
    n: number;
    cleanAccuracy: number;
    robustAccuracy: number;
    attackSuccessRate: number | null;
    medianQueries?: number | null;
  }>;
  detection: {
    detector: string;
    threshold: number;
    /** The attacked films the act judges (the first `plan.actImages`). */
    films: number;
    fitImages: number;
    calibrationImages: number;
    nonAdaptive: { detectionAuc: number | null; caught: number | null; fooledAndUndetected: number };
  };
  adaptive: { attack: string; fooledAndUndetected: number; detectionAuc: number | null; caught: number | null };
  signatures: { film: number } & TamperDemo;
  backend: string;
  plan: Pick<
    DemoPlan,
    | 'attackImages'
    | 'squareImages'
    | 'actImages'
    | 'fitImages'
    | 'squareQueries'
    | 'requestedAttackImages'
    | 'scaled'
    | 'fits'
    | 'estimatedSeconds'
    | 'calibration'
  >;
  stages: DemoStageResult[];
  seconds: number;
}

/** The summary plus the few facts its text form needs besides. */
export interface DemoResult {
  summary: DemoSummary;
  /** For the text: the model's training, the films' size, the ε of each attack and the films attacked. */
  text: {
    trainingSeed?: number;
    epochsRun?: number;
    height: number;
    width: number;
    attackedImages: number;
    seed: number;
    runs: Array<{
      attack: string;
      eps: number;
      epsText: string;
      n: number;
      cleanAccuracy: number;
      robustAccuracy: number;
      medianQueries?: number | null;
    }>;
  };
}

export interface DemoHooksApi extends DemoHooks {
  /** The plan, before any stage runs (calibrated on this backend). */
  onPlan?: (plan: DemoPlan, backend: string) => void;
}

/** Run the demo: calibrate, plan, run the stages, sign and tamper one film; the JSON summary and text facts. */
export async function demo(spec: DemoSpec = {}, hooks: DemoHooksApi = {}): Promise<DemoResult> {
  validateSpec(DEMO_SPEC_SCHEMA, spec, 'demo spec');
  const seed = spec.seed ?? 0;
  const t0 = Date.now();
  const engine = await initEngine();
  const model = await loadClassifier('default');
  const data = await loadDataset(model.card.dataset.name);
  const test = data.splits.test;
  const surrogate = existsSync(path.join(surrogateModelDir(), 'model.json')) ? await loadClassifier('surrogate') : null;
  const cal = await calibrateDemo(model, selectImages(test, 32, seed), engine.backend);
  const plan = planDemo(cal, {
    requested: spec.attackImages,
    full: spec.full,
    testN: test.n,
    withTransfer: !!surrogate,
  });
  hooks.onPlan?.(plan, engine.backend);
  const run = await runDemo(model, data, surrogate, plan, seed, hooks);
  const { img, runs, xPgd8, act } = run;
  const r = run.test;
  const k = model.classes.length;
  const pred = predictions({ probs: r.probs, n: test.n, k }, model.task);
  const counts = labelCounts(test, k);
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (let i = 0; i < test.n; i++) confusion[test.labels[i]][pred[i]]++;
  const card = model.card;
  const [h, w, c] = img.shape;
  const dd = h * w * c;
  const exIndex = act.example?.index ?? 0;
  const png = (x: Float32Array): Buffer => encodePng(x, h, w, c);
  const signed = await tamperDemo(
    png(img.x.subarray(exIndex * dd, (exIndex + 1) * dd)),
    png(act.example?.xAdv ?? xPgd8.subarray(exIndex * dd, (exIndex + 1) * dd)),
  );
  const attacks = runs.map((a) => ({
    attack: a.attack,
    threatModel: a.threatModel,
    eps: a.epsText,
    n: a.n,
    cleanAccuracy: a.cleanAccuracy,
    robustAccuracy: a.robustAccuracy,
    attackSuccessRate: a.attackSuccessRate,
    ...(a.medianQueries !== undefined ? { medianQueries: a.medianQueries } : {}),
  }));
  const fitN = plan.fitImages;
  const summary: DemoSummary = {
    model: {
      name: card.name,
      architecture: card.architecture.name,
      width: card.architecture.width,
      parameters: card.architecture.parameters,
      cardTest: card.metrics.test,
    },
    dataset: {
      name: data.name,
      split: 'test',
      n: test.n,
      classCounts: Object.fromEntries(model.classes.map((cl, i) => [cl, counts[i]])),
    },
    test: { accuracy: round(r.accuracy), auc: round(r.auc) },
    confusion: { rows: 'true class', columns: 'predicted class', classes: model.classes, matrix: confusion },
    attacks,
    detection: {
      detector: act.detector,
      threshold: act.threshold,
      films: Math.min(plan.actImages, img.n),
      fitImages: fitN,
      calibrationImages: fitN,
      nonAdaptive: act.nonAdaptive,
    },
    adaptive: act.adaptive,
    signatures: { film: img.indices?.[exIndex] ?? exIndex, ...signed },
    backend: engine.backend,
    plan: {
      attackImages: plan.attackImages,
      squareImages: plan.squareImages,
      actImages: plan.actImages,
      fitImages: plan.fitImages,
      squareQueries: plan.squareQueries,
      requestedAttackImages: plan.requestedAttackImages,
      scaled: plan.scaled,
      fits: plan.fits,
      estimatedSeconds: plan.estimatedSeconds,
      calibration: plan.calibration,
    },
    stages: run.stages,
    seconds: round((Date.now() - t0) / 1000, 1),
  };
  return {
    summary,
    text: {
      trainingSeed: card.training?.seed,
      epochsRun: card.training?.epochsRun,
      height: test.height,
      width: test.width,
      attackedImages: img.n,
      seed,
      runs: runs.map((a) => ({
        attack: a.attack,
        eps: a.eps,
        epsText: a.epsText,
        n: a.n,
        cleanAccuracy: a.cleanAccuracy,
        robustAccuracy: a.robustAccuracy,
        ...(a.medianQueries !== undefined ? { medianQueries: a.medianQueries } : {}),
      })),
    },
  };
}

/** The plan as note lines (what `medshield demo` prints on stderr before it starts). */
export function formatDemoPlan(plan: DemoPlan, backend: string, spec: DemoSpec = {}): string[] {
  const min = formatDuration;
  const lines = [
    `plan (${backend}: ${(plan.calibration.gradientSecondsPerImage * 1000).toFixed(1)} ms per film for one ` +
      `forward+backward pass): about ${min(plan.estimatedSeconds)} in ${plan.stages.length} stages`,
  ];
  for (const st of plan.stages)
    lines.push(`  ${st.stage.padEnd(18)} ${String(st.images).padStart(4)} films  ~${min(st.estimatedSeconds)}`);
  if (plan.scaled) {
    lines.push(
      `  this backend is slow: attacking ${plan.attackImages} of the default ${plan.requestedAttackImages} films` +
        `${plan.squareQueries < 1000 ? ` (Square with ${plan.squareQueries} queries, not 1000)` : ''} ` +
        `${plan.fits ? `to finish in about ${DEMO_BUDGET_SECONDS / 60} min` : '(the smallest plan)'}; ` +
        'the full run: medshield demo --full (or --attack-images N)',
    );
  }
  if (!plan.fits && spec.attackImages === undefined && !spec.full) {
    lines.push(
      `  even the smallest plan is estimated above ${DEMO_BUDGET_SECONDS / 60} min on this backend` +
        (backend === 'native'
          ? ''
          : ' (the native oneDNN backend is several times faster: apt-get install libdnnl-dev, then npm ci)'),
    );
  }
  return lines;
}

const pct = (v: number | null): string => (v === null ? '—' : `${(100 * v).toFixed(1)} %`);

const WHO: Record<string, string> = {
  pgd: 'white-box PGD-20 (attacker has the weights)',
  square: 'black-box Square, 1000 queries (sees probabilities only)',
  transfer: 'transfer from an independently trained model',
};

/** The demo's text report (what `medshield demo` prints on stdout). */
export function formatDemo(d: DemoResult): string {
  const s = d.summary;
  const t = d.text;
  const plan = s.plan;
  const classes = s.confusion.classes;
  const confusion = s.confusion.matrix;
  const counts = classes.map((c) => s.dataset.classCounts[c]);
  const act = { ...s.detection, adaptive: s.adaptive };
  const signed = s.signatures;
  const cardTest = s.model.cardTest as { accuracy?: number; auc?: number } | undefined;
  const lines = [
    'medshield demo — a medical-image classifier and its numbers',
    '',
    `Model    ${s.model.name}: ${s.model.architecture} (width ${s.model.width}` +
      `, ${(s.model.parameters / 1e6).toFixed(2)} M parameters), ` +
      `trained by 'medshield train' (seed ${t.trainingSeed ?? '?'}, ${t.epochsRun ?? '?'} epochs)`,
    `Data     ${s.dataset.name} test split: ${s.dataset.n} paediatric chest X-rays at ${t.height}×${t.width} px ` +
      `(${classes.map((c, i) => `${counts[i]} ${c}`).join(', ')})`,
    '         MedMNIST v2 (Yang et al. 2023, CC BY 4.0) from Kermany et al. 2018',
    `Result   accuracy ${s.test.accuracy.toFixed(4)}, AUC ${s.test.auc.toFixed(4)}` +
      `  (model card: ${cardTest?.accuracy} / ${cardTest?.auc})`,
    '',
    `         predicted → ${classes.map((c) => c.padStart(10)).join('')}`,
    ...confusion.map(
      (row, i) => `         ${classes[i].padStart(9)}   ${row.map((v) => String(v).padStart(10)).join('')}`,
    ),
    '',
    `Of ${counts[1] ?? 0} pneumonia cases the model found ${confusion[1]?.[1] ?? 0}` +
      `; of ${counts[0]} normal films it called ${confusion[0][1]} pneumonia.`,
    '',
    `Attacks  on ${t.attackedImages} test films (seed ${t.seed}); accuracy clean → under attack:`,
    ...t.runs.map(
      (r) =>
        '         ' +
        (r.attack === 'square'
          ? `black-box Square, ${plan.squareQueries} queries (sees probabilities only)`
          : (WHO[r.attack] ?? r.attack)) +
        ` at ε = ${r.epsText} (${Math.round(r.eps * 255)} of 255 grey levels)` +
        (r.n < t.attackedImages ? `, on the first ${r.n} of them` : '') +
        ': ' +
        `${r.cleanAccuracy.toFixed(3)} → ${r.robustAccuracy.toFixed(3)}` +
        (r.medianQueries !== undefined && r.attack !== 'transfer'
          ? ` (median ${r.medianQueries ?? '—'} queries to flip one)`
          : ''),
    ),
    '         Reproduce: medshield attack --model default --attack ' +
      'pgd|square|transfer … (docs/attacks.md, docs/blackbox.md)',
    '',
    `Detect   ${act.detector} detector (Feinman et al.), fitted ` +
      `on ${act.fitImages} train films and their PGD examples; ` +
      `alarm set for 5 % false alarms on ${act.calibrationImages} clean validation films.`,
    `         ${act.films < t.attackedImages ? `On the first ${act.films} attacked films it` : 'It'} ` +
      'raises the alarm ' +
      `on ${pct(act.nonAdaptive.caught)} of the PGD-8/255 films that fooled the model ` +
      `(AUC ${act.nonAdaptive.detectionAuc ?? '—'}); fooled and unnoticed: ` +
      `${pct(act.nonAdaptive.fooledAndUndetected)} of the films the model got right.`,
    `Adaptive An attacker who knows the detector (${act.adaptive.attack}, ` +
      `same ε): fooled and unnoticed ${pct(act.adaptive.fooledAndUndetected)} ` +
      `of the films the model got right (alarm on ${pct(act.adaptive.caught)} of its successes).`,
    '         Amit et al.: detectors that look near-perfect fall to an informed ' +
      'attacker. Full table: medshield scorecard --quick --report scorecard.html',
    `Signed   The scanner signs film #${signed.film} (ECDSA ` +
      `P-256, throw-away test CA made for this run): untouched film ` +
      `${signed.original.valid ? 'VERIFIES' : 'fails'}; the same ` +
      `file with the attacker's pixels and the original signature is ` +
      `${signed.tampered.valid ? 'ACCEPTED (unexpected)' : 'REJECTED'} (${signed.tampered.reason}).`,
    '         Signatures from scanner to model stop what detectors ' +
      'cannot: medshield dicom sign / verify, medshield gateway.',
    '',
    ...(plan.scaled
      ? [
          `Sample   ${t.attackedImages} of ${plan.requestedAttackImages} films attacked` +
            `${plan.squareQueries < 1000 ? `, Square with ${plan.squareQueries} queries,` : ''}` +
            ` to fit ${DEMO_BUDGET_SECONDS / 60} min on this backend; ` +
            'the full run: medshield demo --full',
        ]
      : []),
    `Backend ${s.backend}; ${s.seconds} s (estimated ${plan.estimatedSeconds} s). ` +
      `Reproduce: medshield eval --model default --dataset ${s.dataset.name} --split test`,
  ];
  return lines.join('\n') + '\n';
}
