/**
 * `replicate(spec)`: the seed papers' results on MedMNIST, each beside the paper's headline, with an
 * HTML report —
 * - finlayson: Finlayson et al., "Adversarial attacks on medical machine learning", Science 2019 (PGD ε
 *   sweep; `blackbox`: transfer from an independently trained surrogate and adversarial patches);
 * - ma: Ma et al., "Understanding adversarial attacks on deep learning based medical image analysis
 *   systems", Pattern Recognition 2021 (attack sweep, success vs classes and capacity, saliency;
 *   `detectors`: the detection AUC beside their > 98 %);
 * - amit: every defence against the informed attacker (src/api/replicate-amit.ts).
 * `quick` trains small models briefly and attacks a seeded sample of test images (minutes on 2 cores).
 * The experiments live in src/studies/replicate*.ts; this verb trains or loads the models, runs them and
 * writes the report. `formatReplication` is the text form.
 */
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { initEngine } from '../engine/index.js';
import { loadDataset, sampleSplit, type Dataset } from '../data/dataset.js';
import { newClassifier, fitClassifier } from '../models/factory.js';
import { loadClassifier, saveModel, defaultModelDir, surrogateModelDir } from '../models/io.js';
import { finlaysonBlackbox, type BlackboxRow } from '../studies/replicate-blackbox.js';
import type { Architecture } from '../models/architectures.js';
import type { Classifier } from '../models/model.js';
import {
  finlaysonRow,
  maRows,
  maAttackOptions,
  maEpsilon,
  restrictClasses,
  saliencyAnalysis,
  replicationSettings,
  HEADLINES,
  type ReplicationRow,
} from '../studies/replicate.js';
import { selectImages } from '../data/images.js';
import { evaluateAttack } from '../eval/robustness.js';
import { ATTACKS } from '../attacks/registry.js';
import { writeReplication, type ReplicationReport } from '../report/replication.js';
import { badArgument } from '../errors.js';
import { parseEpsilon } from '../attacks/epsilon.js';
import { maDetection, formatMaDetection, type MaDetection } from '../studies/replicate-detectors.js';
import { replicateAmit, formatAmit, type AmitResult } from './replicate-amit.js';
import { validateSpec, checkAborted } from './common.js';

export type Paper = 'finlayson' | 'ma' | 'amit';
export const PAPERS: Paper[] = ['finlayson', 'ma', 'amit'];
export const REPLICATE_ARCHITECTURES: Architecture[] = ['cnn', 'resnet18', 'resnet50'];

export interface ReplicateSpec {
  paper: Paper;
  quick?: boolean;
  seed?: number;
  /** MedMNIST names or .npz paths (default pneumoniamnist, retinamnist). */
  datasets?: string[];
  /** Architectures to attack (default cnn, resnet18; with `blackbox`: resnet18). */
  models?: Architecture[];
  /** Test images per dataset (default 64 with quick — 100 for ma detectors — else all). */
  limit?: number;
  /** Where trained models are cached (default a folder under the OS temp dir). */
  work?: string;
  /** HTML report (default replicate-<paper>[-blackbox|-detectors].html). */
  report?: string;
  dataDir?: string;
  /** finlayson: transfer and patches. */
  blackbox?: boolean;
  /**
   * finlayson blackbox: the surrogate model (default: the shipped one for PneumoniaMNIST, else trained with seed+1).
   */
  surrogate?: string;
  /** ma: the detection AUC only. */
  detectors?: boolean;
  /** amit: L∞ budget of the scorecard (default 8/255). */
  eps?: string;
  /** amit: defences and detectors (a scorecard list). */
  defences?: string;
  /** The command line recorded in the report. */
  command?: string;
}

export const REPLICATE_SPEC_SCHEMA = {
  $id: 'medshield:replicate-spec',
  type: 'object',
  additionalProperties: false,
  required: ['paper'],
  properties: {
    paper: { type: 'string', minLength: 1 },
    quick: { type: 'boolean' },
    seed: { type: 'integer', minimum: 0, maximum: 2 ** 32 - 1 },
    datasets: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1 },
    models: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1 },
    limit: { type: 'integer', minimum: 1, maximum: 1e9 },
    work: { type: 'string', minLength: 1 },
    report: { type: 'string', minLength: 1 },
    dataDir: { type: 'string', minLength: 1 },
    blackbox: { type: 'boolean' },
    surrogate: { type: 'string', minLength: 1 },
    detectors: { type: 'boolean' },
    eps: { type: 'string', minLength: 1 },
    defences: { type: 'string', minLength: 1 },
    command: { type: 'string' },
  },
} as const;

/** What `replicate finlayson|ma --json` prints. */
export interface PaperSummary {
  paper: 'finlayson' | 'ma';
  headline: string;
  rows: Array<{
    dataset: string;
    model: string;
    attack: string;
    cleanAccuracy: number | undefined;
    atPaperEps: { eps: string; robustAccuracy: number; attackSuccessRate: number | null } | null;
    matchesHeadlineAt: string | null | undefined;
    sweep: Array<{ eps: string; robustAccuracy: number; attackSuccessRate: number | null }>;
  }>;
  classes: ReplicationReport['classes'];
  capacity: ReplicationReport['capacity'];
  saliency?: { massOnTopSalient: unknown; correlation: unknown };
  seconds: number;
  report: string;
}

/** The result of one replication: `result` is what `--json` prints; `seconds` unrounded and `title` for the text. */
export type ReplicateResult =
  | { mode: 'amit'; result: AmitResult }
  | { mode: 'paper'; result: PaperSummary; title: string; seconds: number }
  | {
      mode: 'detectors';
      result: { paper: 'ma'; detectors: MaDetection; seconds: number; report: string };
      seconds: number;
    }
  | {
      mode: 'blackbox';
      result: { paper: 'finlayson'; blackbox: BlackboxRow[]; seconds: number; report: string };
      seconds: number;
    };

export interface ReplicateHooks {
  /** A stage of the run (training a model, an attack, a finding) as one line. */
  onProgress?: (what: string) => void;
  /** Abort at the next stage. */
  signal?: AbortSignal;
}

interface Run {
  spec: ReplicateSpec;
  quick: boolean;
  seed: number;
  command: string;
  log: (s: string) => void;
}

const TITLES = {
  finlayson: 'Replication: Finlayson et al., "Adversarial attacks on medical machine learning" (Science 2019)',
  ma:
    'Replication: Ma et al., "Understanding adversarial attacks on deep ' +
    'learning based medical image analysis systems" (Pattern Recognition 2021)',
};

/** Check the spec's combinations (one-line errors naming the CLI flags). */
export function checkReplicateSpec(spec: ReplicateSpec): void {
  validateSpec(REPLICATE_SPEC_SCHEMA, spec, 'replicate spec');
  const { paper } = spec;
  if (!PAPERS.includes(paper)) throw badArgument(`unknown paper '${paper}' (choose finlayson, ma or amit)`);
  if ((spec.eps || spec.defences) && paper !== 'amit')
    throw badArgument('--eps and --defences are options of replicate amit');
  if (spec.detectors && paper !== 'ma') throw badArgument('--detectors is an option of replicate ma');
  if (paper === 'amit') {
    if (spec.blackbox || spec.surrogate) throw badArgument('--blackbox and --surrogate belong to replicate finlayson');
    parseEpsilon(spec.eps ?? '8/255');
    return;
  }
  if (spec.blackbox && paper !== 'finlayson')
    throw badArgument('--blackbox replicates Finlayson et al.; use it with finlayson');
  if (spec.surrogate && !spec.blackbox) throw badArgument('--surrogate is used with --blackbox');
  for (const a of spec.models ?? [])
    if (!REPLICATE_ARCHITECTURES.includes(a))
      throw badArgument(`unknown model '${a}' (choose cnn, resnet18, resnet50)`);
}

/** Run one replication. */
export async function replicate(spec: ReplicateSpec, hooks: ReplicateHooks = {}): Promise<ReplicateResult> {
  checkReplicateSpec(spec);
  const run: Run = {
    spec,
    quick: !!spec.quick,
    seed: spec.seed ?? 0,
    command: spec.command ?? `medshield replicate ${spec.paper}`,
    log: (s) => {
      checkAborted(hooks.signal);
      hooks.onProgress?.(s);
    },
  };
  const datasetNames = spec.datasets ?? ['pneumoniamnist', 'retinamnist'];
  if (spec.paper === 'amit') {
    const epsText = spec.eps ?? '8/255';
    await initEngine();
    const result = await replicateAmit(
      {
        quick: run.quick,
        seed: run.seed,
        datasets: datasetNames,
        defences: spec.defences,
        eps: parseEpsilon(epsText),
        epsText,
        limit: spec.limit,
        work: spec.work,
        report: spec.report ?? 'replicate-amit.html',
        dataDir: spec.dataDir,
        log: run.log,
      },
      run.command,
    );
    return { mode: 'amit', result };
  }
  const paper = spec.paper;
  const archs = spec.models ?? (spec.blackbox ? ['resnet18'] : ['cnn', 'resnet18']);
  const t0 = performance.now();
  const engine = await initEngine();
  const limit = spec.limit ?? (run.quick ? 64 : undefined);
  const width = (a: Architecture): number => (run.quick ? 16 : a === 'cnn' ? 32 : 64);
  const datasets: Dataset[] = [];
  for (const name of datasetNames) datasets.push(await loadDataset(name, { dataDir: spec.dataDir }));
  if (spec.blackbox) return blackbox(run, datasets, archs, width, limit, engine.backend, t0);
  if (spec.detectors) return detectors(run, datasets, archs, width, engine.backend, t0);
  const rows: ReplicationRow[] = [];
  const notes: string[] = [`engine: ${engine.backend}`, replicationSettings(paper, run.quick)];
  for (const data of datasets) {
    const img = selectImages(data.splits.test, limit, run.seed);
    for (const arch of archs) {
      const m = await trainedModel(run, data, arch, width(arch));
      if (paper === 'finlayson') rows.push(await finlaysonRow(m, data.name, img, run.seed, run.log));
      else rows.push(...(await maRows(m, data.name, img, run.seed, run.quick, run.log)));
    }
  }
  const report: ReplicationReport = {
    paper,
    title: TITLES[paper],
    headline: HEADLINES[paper].text,
    rows,
    command: run.command,
    seconds: 0,
    quick: run.quick,
    notes,
  };
  if (paper === 'ma') await maFindings(run, report, datasets, limit, width);
  report.seconds = (performance.now() - t0) / 1000;
  const file = spec.report ?? `replicate-${paper}.html`;
  await writeReplication(file, report);
  const summary = rows.map((r) => ({
    dataset: r.dataset,
    model: r.model,
    attack: r.attack,
    cleanAccuracy: r.runs[0]?.cleanAccuracy,
    atPaperEps: r.atPaperEps
      ? {
          eps: r.atPaperEps.epsText,
          robustAccuracy: r.atPaperEps.robustAccuracy,
          attackSuccessRate: r.atPaperEps.attackSuccessRate,
        }
      : null,
    matchesHeadlineAt: r.matchesAt,
    sweep: r.runs.map((s) => ({
      eps: s.epsText,
      robustAccuracy: s.robustAccuracy,
      attackSuccessRate: s.attackSuccessRate,
    })),
  }));
  const result: PaperSummary = {
    paper,
    headline: HEADLINES[paper].text,
    rows: summary,
    classes: report.classes,
    capacity: report.capacity,
    saliency: report.saliency
      ? { massOnTopSalient: report.saliency.massOnTopSalient, correlation: report.saliency.correlation }
      : undefined,
    seconds: Math.round(report.seconds),
    report: file,
  };
  return { mode: 'paper', result, title: report.title, seconds: report.seconds };
}

/** A trained model for (data, arch, width, seed): the shipped ones when they fit, else trained once and cached. */
async function trainedModel(
  run: Run,
  data: Dataset,
  arch: Architecture,
  width: number,
  seed = run.seed,
): Promise<Classifier> {
  const { quick } = run;
  const epochs = quick ? (arch === 'cnn' ? 2 : 1) : 10;
  const trainN = quick ? 2000 : data.splits.train.n;
  const shippedCase = !quick && arch === 'resnet18' && data.name === 'pneumoniamnist';
  if (shippedCase && seed === run.seed && existsSync(path.join(defaultModelDir(), 'model.json')))
    return loadClassifier('default');
  if (shippedCase && seed !== run.seed && existsSync(path.join(surrogateModelDir(), 'model.json')))
    return loadClassifier(surrogateModelDir());
  const dir = path.join(
    run.spec.work ?? path.join(tmpdir(), 'medshield-replicate'),
    `${data.name}-${arch}-w${width}-e${epochs}-n${Math.min(trainN, data.splits.train.n)}-s${seed}`,
  );
  if (existsSync(path.join(dir, 'model-card.json'))) return loadClassifier(dir);
  run.log(`training ${arch} (width ${width}, ${epochs} epoch${epochs > 1 ? 's' : ''}, seed ${seed}) on ${data.name}…`);
  const d2 = { ...data, splits: { ...data.splits, train: sampleSplit(data.splits.train, trainN, seed) } };
  const m = newClassifier(arch, d2, {
    width,
    seed,
    name: `${arch}-w${width}-${data.name}${seed !== run.seed ? `-seed${seed}` : ''}`,
  });
  await fitClassifier(m, d2, { epochs, batchSize: 64, seed });
  await saveModel(m, dir);
  return m;
}

/** Ma's findings 1–3: success against the number of classes, against capacity, and where perturbations fall. */
async function maFindings(
  run: Run,
  report: ReplicationReport,
  datasets: Dataset[],
  limit: number | undefined,
  width: (a: Architecture) => number,
): Promise<void> {
  const { quick, seed } = run;
  // Finding 1: success against the number of classes (RetinaMNIST restricted to 2..5 grades)
  const retina =
    datasets.find((d) => d.name === 'retinamnist') ?? (await loadDataset('retinamnist', { dataDir: run.spec.dataDir }));
  const eps = maEpsilon('retinamnist');
  report.classes = [];
  for (const k of [2, 3, 4, 5]) {
    const sub = k === 5 ? retina : restrictClasses(retina, k);
    const m = await trainedModel(run, sub, 'cnn', width('cnn'));
    const ev = await evaluateAttack(m, selectImages(sub.splits.test, limit, seed), ATTACKS.pgd, {
      ...maAttackOptions(quick)('pgd', eps.value),
      eps: eps.value,
      epsText: eps.text,
      seed,
    });
    run.log(`ma: ${k} classes → success ${ev.summary.attackSuccessRate}`);
    report.classes.push({
      classes: k,
      cleanAccuracy: ev.summary.cleanAccuracy,
      attackSuccessRate: ev.summary.attackSuccessRate,
      eps: eps.text,
    });
  }
  // Finding 2: success against capacity (first dataset)
  const first = datasets[0];
  const e1 = maEpsilon(first.name);
  const img = selectImages(first.splits.test, limit, seed);
  report.capacity = [];
  const variants: Array<[Architecture, number]> = quick
    ? [
        ['cnn', 8],
        ['cnn', 16],
        ['resnet18', 16],
      ]
    : [
        ['cnn', 8],
        ['cnn', 16],
        ['cnn', 32],
        ['resnet18', 64],
        ['resnet50', 64],
      ];
  let pgdAdv: Float32Array | null = null;
  let salModel: Classifier | null = null;
  for (const [arch, w] of variants) {
    const m = await trainedModel(run, first, arch, w);
    const ev = await evaluateAttack(m, img, ATTACKS.pgd, {
      ...maAttackOptions(quick)('pgd', e1.value),
      eps: e1.value,
      epsText: e1.text,
      seed,
    });
    run.log(`ma: ${arch} width ${w} → success ${ev.summary.attackSuccessRate}`);
    report.capacity.push({
      model: `${arch} w${w}`,
      parameters: m.card.architecture.parameters,
      cleanAccuracy: ev.summary.cleanAccuracy,
      attackSuccessRate: ev.summary.attackSuccessRate,
      eps: e1.text,
    });
    if (arch === 'cnn' && !pgdAdv) {
      pgdAdv = ev.xAdv;
      salModel = m;
    }
  }
  // Finding 3: where perturbations fall
  if (pgdAdv && salModel)
    report.saliency = {
      ...(await saliencyAnalysis(salModel, img, pgdAdv)),
      dataset: first.name,
      model: salModel.card.name,
    };
  report.notes.push(
    'Ma et al. trained on 224-px images with ImageNet-pretrained networks; ' +
      'these models are trained from scratch on 28-px MedMNIST images' +
      (quick ? ' briefly (--quick)' : '') +
      '.',
  );
}

/** `replicate ma --detectors`: the detection AUC table (src/studies/replicate-detectors.ts). */
async function detectors(
  run: Run,
  datasets: Dataset[],
  archs: Architecture[],
  width: (a: Architecture) => number,
  backend: string,
  t0: number,
): Promise<ReplicateResult> {
  const targets: Array<{ model: Classifier; data: Dataset }> = [];
  for (const data of datasets)
    for (const arch of archs) targets.push({ model: await trainedModel(run, data, arch, width(arch)), data });
  const detection = await maDetection(targets, {
    quick: run.quick,
    seed: run.seed,
    limit: run.spec.limit,
    onProgress: run.log,
  });
  const seconds = (performance.now() - t0) / 1000;
  const file = run.spec.report ?? 'replicate-ma-detectors.html';
  await writeReplication(file, {
    paper: 'ma',
    title: `${TITLES.ma} — detection`,
    headline: detection.claim,
    rows: [],
    detection,
    command: run.command,
    seconds,
    quick: run.quick,
    notes: [`engine: ${backend}`],
  });
  return {
    mode: 'detectors',
    result: { paper: 'ma', detectors: detection, seconds: Math.round(seconds), report: file },
    seconds,
  };
}

/** `replicate finlayson --blackbox`: transfer and patches per dataset and target architecture. */
async function blackbox(
  run: Run,
  datasets: Dataset[],
  archs: Architecture[],
  width: (a: Architecture) => number,
  limit: number | undefined,
  backend: string,
  t0: number,
): Promise<ReplicateResult> {
  const rows: BlackboxRow[] = [];
  for (const data of datasets) {
    const img = selectImages(data.splits.test, limit, run.seed);
    for (const arch of archs) {
      const target = await trainedModel(run, data, arch, width(arch));
      const surrogate = run.spec.surrogate
        ? await loadClassifier(run.spec.surrogate)
        : await trainedModel(run, data, arch, width(arch), run.seed + 1);
      const row = await finlaysonBlackbox(target, surrogate, data, img, {
        seed: run.seed,
        patchSteps: run.quick ? 50 : 100,
        patchLimit: run.quick ? 300 : 500,
        onProgress: run.log,
      });
      rows.push(row);
      // a long run reports each finished dataset at once, so a later failure does not lose it
      run.log(
        `finlayson --blackbox: ${row.dataset}: ` +
          JSON.stringify({
            clean: row.cleanAccuracy,
            transfer: row.transfer.map((t) => [t.eps, t.robustAccuracy, t.whiteboxRobustAccuracy]),
            patches: row.patches.map((p) => [p.mode, p.scale, p.patchedAccuracy]),
          }),
      );
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const file = run.spec.report ?? 'replicate-finlayson-blackbox.html';
  await writeReplication(file, {
    paper: 'finlayson',
    title: `${TITLES.finlayson} — black box and patches`,
    headline:
      'transfer attacks from an independently trained model and ' +
      'adversarial patches fool medical classifiers; natural patches do not',
    rows: [],
    blackbox: rows,
    command: run.command,
    seconds,
    quick: run.quick,
    notes: [`engine: ${backend}`],
  });
  return {
    mode: 'blackbox',
    result: { paper: 'finlayson', blackbox: rows, seconds: Math.round(seconds), report: file },
    seconds,
  };
}

/** The text form of a replication (what `medshield replicate` prints without --json). */
export function formatReplication(r: ReplicateResult): string {
  if (r.mode === 'amit') return formatAmit(r.result);
  if (r.mode === 'detectors') {
    return (
      `Replication: Ma et al. (Pattern Recognition 2021) — detection\n` +
      `${formatMaDetection(r.result.detectors)}report: ${r.result.report} (${r.seconds.toFixed(0)} s)\n`
    );
  }
  if (r.mode === 'blackbox') {
    const f = (v: number | null | undefined): string => (v === null || v === undefined ? '—' : v.toFixed(4));
    let s = '';
    for (const b of r.result.blackbox) {
      s +=
        `${b.dataset} (${b.domain ?? 'no paper domain'}): target ${b.target} clean ${f(b.cleanAccuracy)}` +
        `, surrogate ${b.surrogate} clean ${f(b.surrogateCleanAccuracy)}, n=${b.n}\n`;
      for (const t of b.transfer)
        s +=
          `  ε=${t.eps}: transfer PGD robust ${f(t.robustAccuracy)} (success ` +
          `${f(t.attackSuccessRate)}) | white-box PGD robust ${f(t.whiteboxRobustAccuracy)}\n`;
      for (const p of b.patches) {
        s +=
          `  patch ${p.mode} scale ${p.scale}: accuracy ${f(p.patchedAccuracy)}` +
          ` (clean ${f(p.cleanAccuracy)}, success ${f(p.attackSuccessRate)})` +
          `${b.paper ? `   paper: ${b.paper[p.mode as 'whitebox']}` : ''}\n`;
      }
    }
    return s + `report: ${r.result.report} (${r.seconds.toFixed(0)} s)\n`;
  }
  const p = r.result;
  let s = `${r.title}\nheadline: ${p.headline}\n`;
  for (const row of p.rows) {
    const at = row.atPaperEps;
    s +=
      `  ${row.dataset} ${row.model} ${row.attack}: clean ${row.cleanAccuracy?.toFixed(3)}; ` +
      (at
        ? p.paper === 'finlayson'
          ? `robust ${at.robustAccuracy.toFixed(3)} at ${at.eps}`
          : `success ${at.attackSuccessRate?.toFixed(3)} at ${at.eps}`
        : '—') +
      '; ' +
      `matches the headline from ε = ${row.matchesHeadlineAt ?? 'never (in the sweep)'}\n`;
  }
  return s + `report: ${p.report} (${r.seconds.toFixed(0)} s)\n`;
}
