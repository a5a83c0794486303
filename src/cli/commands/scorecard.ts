/**
 * `medshield scorecard`: every defence and detector against the non-adaptive and the adaptive
 * attacker, with sanity checks and a verdict per row (src/eval/scorecard*.ts); JSON and HTML.
 *
 *   medshield scorecard --model default --dataset pneumoniamnist --defences all --eps 8/255 --quick --json --report scorecard.html
 */
import type { Command } from 'commander';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { action, parseIntArg, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import { addImageSetOptions, DATASET_HELP, loadDataFor, withImageSet, type DataCli } from '../data-options.js';
import { loadClassifier, resolveModelPath } from '../../models/io.js';
import { loadDifferentiableModel } from '../../models/onnx.js';
import type { Classifier } from '../../models/model.js';
import { parseEpsilon, checkEpsilon } from '../../attacks/epsilon.js';
import { selectImages } from '../../eval/images.js';
import { ALL_DEFENCES, parseScorecardList, planScorecard, runScorecard, TRAINING_DEFENCE } from '../../eval/scorecard-entries.js';
import type { Scorecard } from '../../eval/scorecard-types.js';
import { writeScorecardReport } from '../../report/scorecard.js';
import { badArgument, mismatch } from '../../errors.js';
import { progress, note } from '../progress.js';
import { calibrateGradient, formatDuration } from '../../eval/cost.js';

interface ScorecardCli extends CommonOptions, DataCli {
  model: string; defences: string; eps: string; quick?: boolean; limit?: number; fitLimit?: number;
  steps?: number; eotSamples?: number; advModel?: string; noiseModel?: string; report?: string; out?: string;
}

/** A helper model for one row: the one given, else the shipped one when it was trained on this dataset. */
async function helperModel(spec: string | undefined, shipped: string, dataset: string, main: { inputShape: [number, number, number] }): Promise<Classifier | undefined> {
  if (spec) return loadClassifier(spec);
  if (!existsSync(resolveModelPath(shipped))) return undefined;
  const m = await loadClassifier(shipped);
  const same = m.card.dataset.name === dataset && m.inputShape.join() === main.inputShape.join();
  return same ? m : undefined;
}

export async function scorecardCommand(o: ScorecardCli, command: string): Promise<Scorecard> {
  const defences = parseScorecardList(o.defences);
  const eps = { value: parseEpsilon(o.eps), text: o.eps.trim() };
  const engine = await startEngine(o);
  const model = await loadDifferentiableModel(o.model);
  const data = await loadDataFor(o, model.card, { split: ['train', 'val', 'test'] });
  const te = data.splits.test;
  if (data.info.task === 'multilabel') throw badArgument('the scorecard covers single-label tasks (binary or multi-class)');
  checkEpsilon(eps.value, 'linf', te.height * te.width * te.channels, eps.text);
  const advModel = defences.includes(TRAINING_DEFENCE) ? await helperModel(o.advModel, 'adv-cnn', data.name, model) : undefined;
  const noiseModel = defences.some((d) => d.startsWith('smoothing')) ? await helperModel(o.noiseModel, 'noise-cnn', data.name, model) : undefined;
  for (const [flag, m] of [['--adv-model', advModel], ['--noise-model', noiseModel]] as const) {
    if (m && m.card.dataset.name !== data.name) throw mismatch(`${flag} was trained on ${m.card.dataset.name}, not ${data.name}`);
  }
  const quick = !!o.quick;
  const test = selectImages(te, o.limit ?? (quick ? 64 : 300), o.seed);
  const fit = selectImages(data.splits.train, o.fitLimit ?? (quick ? 200 : 500), o.seed + 1);
  const calibration = selectImages(data.splits.val, quick ? 200 : 500, o.seed + 2);
  const plan = planScorecard(await calibrateGradient(model, test, engine.backend), { defences, n: test.n, fitN: fit.n, calibrationN: calibration.n, quick, steps: o.steps, samples: o.eotSamples });
  note(`plan (${engine.backend}: ${(plan.gradientSecondsPerImage * 1000).toFixed(1)} ms per image for one forward+backward pass): ${defences.length} rows on ${test.n} test images, about ${formatDuration(plan.estimatedSeconds)}`);
  for (const st of plan.shared) note(`  ${st.stage.padEnd(34)} ${String(st.images).padStart(4)} images  ~${formatDuration(st.estimatedSeconds)}`);
  for (const r of plan.rows) note(`  ${r.defence.padEnd(34)} ${String(r.images).padStart(4)} images  ~${formatDuration(r.estimatedSeconds)}`);
  if (quick) note('  (quick: sanity checks only on the rows whose verdict they can change)');
  const bar = progress('scorecard', defences.length);
  const t0 = Date.now(); let estimatedDone = 0;
  const eta = (): string => {
    const spent = (Date.now() - t0) / 1000; const left = plan.estimatedSeconds - estimatedDone;
    // scale what is left by how the estimate has fared so far
    const f = estimatedDone > 0 ? spent / estimatedDone : 1;
    return formatDuration(Math.max(0, left * f));
  };
  let card: Scorecard;
  try {
    card = await runScorecard({
      model, modelDir: o.model, advModel, noiseModel, dataset: data.name, split: 'test', test, fit, calibration, defences,
      eps: eps.value, epsText: eps.text, quick, seed: o.seed, steps: o.steps, samples: o.eotSamples, plan,
      onProgress: (what, done) => bar.update(done, { at: what.slice(0, 60) }),
      onStage: (stage, est) => { estimatedDone += est ?? 0; bar.log(`${stage} (~${formatDuration(est ?? 0)}) …`); },
      onRow: (r) => {
        estimatedDone += r.estimatedSeconds ?? 0;
        const phases = Object.entries(r.timing ?? {}).map(([k, v]) => `${k} ${v}`).join(', ');
        bar.log(`${r.defence.padEnd(28)} ${r.verdict.padEnd(9)} fooled&undetected ${r.nonAdaptive.fooledAndUndetected.toFixed(3)} → ${r.adaptive.fooledAndUndetected.toFixed(3)}  (${r.seconds} s, estimated ${r.estimatedSeconds ?? '?'} s; ${phases}; about ${eta()} left)`);
      },
    });
  } finally {
    bar.stop();
  }
  card = withImageSet(card, data);
  if (o.report) await writeScorecardReport(o.report, card, { command });
  if (o.out) { mkdirSync(path.dirname(path.resolve(o.out)), { recursive: true }); writeFileSync(o.out, JSON.stringify(card, null, 1)); }
  return card;
}

export function printScorecard(card: Scorecard): void {
  const w = Math.max(8, ...card.rows.map((r) => r.defence.length));
  process.stdout.write(`${card.model.name} on ${card.dataset}/${card.split} (n=${card.n}), ε = ${card.epsText} L∞${card.quick ? ', quick' : ''}\n`);
  process.stdout.write(`  undefended: clean ${card.baseline.cleanAccuracy.toFixed(4)}, robust ${card.baseline.robustAccuracy.toFixed(4)} under ${card.baseline.attack}\n`);
  process.stdout.write(`  ${'defence'.padEnd(w)}  clean   non-adaptive f&u  adaptive f&u  attack                 sanity  verdict\n`);
  for (const r of card.rows) {
    process.stdout.write(`  ${r.defence.padEnd(w)}  ${r.cleanAccuracy.toFixed(3)}   ${r.nonAdaptive.fooledAndUndetected.toFixed(3).padEnd(16)}  ${r.adaptive.fooledAndUndetected.toFixed(3).padEnd(12)}  ${r.adaptive.attack.padEnd(22)} ${(r.sanity.skipped ? 'skip' : r.sanity.passed ? 'pass' : r.sanity.failures.join(',')).padEnd(7)} ${r.verdict}${r.gradientMasking ? ' (gradient masking)' : ''}\n`);
  }
  for (const n of card.notes) process.stdout.write(`  note: ${n}\n`);
  process.stdout.write(`  f&u = fooled and undetected among originally-correct images; ${card.rows.length} rows in ${card.seconds} s\n`);
}

export default function register(program: Command): void {
  addImageSetOptions(withCommon(program.command('scorecard').description('every defence and detector against the non-adaptive and the adaptive (informed) attacker, with sanity checks and a verdict'))
    .option('--model <dir>', "model directory, or 'default' for the shipped model", 'default')
    .option('--dataset <name|path|dir|csv>', DATASET_HELP)
    .option('--defences <list>', `all, or a list of: ${ALL_DEFENCES.join(', ')} (defence specs take parameters, e.g. jpeg:q=50; separate with ';')`, 'all')
    .option('--eps <eps>', 'L∞ budget, e.g. 2/255 or 8/255', '8/255')
    .option('--quick', '64 test images, 20 adaptive steps, 4 EOT draws, sanity checks on 32 images (default: 300, 50, 8, 100)')
    .option('--limit <n>', 'test-split images evaluated', parseIntArg('--limit', 2, 1e7))
    .option('--fit-limit <n>', 'train-split images the detectors are fitted on', parseIntArg('--fit-limit', 10, 1e7))
    .option('--steps <n>', 'adaptive-attack iterations', parseIntArg('--steps', 1, 1e5))
    .option('--eot-samples <n>', 'EOT draws per gradient for randomized defences', parseIntArg('--eot-samples', 1, 1000))
    .option('--adv-model <dir>', "adversarially trained model for the adversarial-training row (default: the shipped 'adv-cnn' when it matches the dataset)")
    .option('--noise-model <dir>', "noise-trained model for the smoothing row (default: the shipped 'noise-cnn' when it matches the dataset)")
    .option('--report <file.html>', 'write a self-contained HTML report')
    .option('--out <file.json>', 'also write the JSON scorecard to a file')
    .option('--data-dir <dir>', 'dataset cache directory (env MEDSHIELD_DATA)'))
    .action(action(async (o: ScorecardCli) => {
      const card = await scorecardCommand(o, `medshield ${process.argv.slice(2).join(' ')}`);
      if (o.json) return printJson(card);
      printScorecard(card);
      if (o.report) process.stdout.write(`report: ${o.report}\n`);
      if (o.out) process.stdout.write(`json: ${o.out}\n`);
    }));
}
