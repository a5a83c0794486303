/**
 * `medshield attack`: run a white-box evasion attack on a dataset split and report robust accuracy,
 * attack success rate and perturbation sizes, for one ε (an object) or several (an array).
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { action, parseIntArg, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import { loadDataset, type SplitName } from '../../data/dataset.js';
import { loadModel, resolveModelPath } from '../../models/io.js';
import { checkInputMatches } from '../../models/card.js';
import { getAttack, ATTACK_NAMES } from '../../attacks/registry.js';
import { parseEpsilon, parseEpsilonList, checkEpsilon } from '../../attacks/epsilon.js';
import type { AttackOptions, Criterion, LossName, Norm } from '../../attacks/types.js';
import { selectImages } from '../../eval/images.js';
import { epsilonSweep } from '../../eval/sweep.js';
import { writeRecords } from '../../eval/records.js';
import { makeExamples, saveExamples } from '../../eval/examples.js';
import type { AttackSummary } from '../../eval/robustness.js';
import { buildReport } from '../../report/build.js';
import { writeHtml } from '../../report/html.js';
import { badArgument, unsupported } from '../../errors.js';
import { progress } from '../progress.js';

interface AttackCli extends CommonOptions {
  model: string; dataset?: string; split: SplitName; limit?: number; attack: string; eps: string; steps?: number; stepSize?: string;
  norm?: Norm; targeted?: boolean; target?: string; label?: string; loss?: LossName; restarts?: number; batchSize: number;
  saveExamples?: string; records?: string; report?: string; dataDir?: string;
}

/** The fixed JSON object of the CLI contract (plus notes/components/targeted success when relevant). */
export function cliResult(s: AttackSummary): Record<string, unknown> {
  const out: Record<string, unknown> = {
    attack: s.attack, norm: s.norm, eps: s.eps, steps: s.steps, n: s.n, cleanAccuracy: s.cleanAccuracy, robustAccuracy: s.robustAccuracy,
    attackSuccessRate: s.attackSuccessRate, meanLinf: s.meanLinf, meanL2: s.meanL2, meanSSIM: s.meanSSIM, meanPSNR: s.meanPSNR,
    seconds: s.seconds, imagesPerSecond: s.imagesPerSecond,
  };
  if (s.targetedSuccessRate !== undefined) out.targetedSuccessRate = s.targetedSuccessRate;
  if (s.components) out.components = s.components;
  if (s.notes.length) out.notes = s.notes;
  return out;
}

export default function register(program: Command): void {
  withCommon(program.command('attack').description('white-box evasion attack on a dataset split: robust accuracy, success rate, perturbation size'))
    .option('--model <dir>', "model directory, or 'default' for the shipped model", 'default')
    .option('--dataset <name|path>', "MedMNIST name or .npz path (default: the model's own dataset)")
    .addOption(new Option('--split <name>', 'split').choices(['train', 'val', 'test']).default('test'))
    .option('--limit <n>', 'attack a seeded sample of N images', parseIntArg('--limit', 1, 1e9))
    .requiredOption('--attack <name>', `attack: ${ATTACK_NAMES.join(', ')}`)
    .requiredOption('--eps <list>', 'perturbation budget(s): 8/255 or 0.0314, comma-separated for a sweep')
    .option('--steps <n>', 'iterations (default: the attack\'s own)', parseIntArg('--steps', 1, 1e6))
    .option('--step-size <x>', 'step size α (e.g. 0.5/255)')
    .addOption(new Option('--norm <norm>', "norm of the ε ball (default: the attack's native norm)").choices(['linf', 'l2', 'l1', 'l0']))
    .option('--targeted', 'targeted attack (binary tasks: the other class unless --target)')
    .option('--target <class>', "target class index, or 'other' on binary tasks")
    .option('--label <n|all>', 'multi-label heads: the label to attack (default all)')
    .addOption(new Option('--loss <name>', 'loss for gradient attacks').choices(['ce', 'cw', 'dlr']))
    .option('--restarts <n>', 'random restarts (PGD, APGD, FAB)', parseIntArg('--restarts', 1, 1000))
    .option('--batch-size <n>', 'images per attack batch', parseIntArg('--batch-size', 1, 65536), 128)
    .option('--save-examples <dir>', 'write original/adversarial/difference PNGs of a few examples')
    .option('--records <file>', 'write per-sample records (.json or .csv)')
    .option('--report <file>', 'write a self-contained HTML report')
    .option('--data-dir <dir>', 'dataset cache directory (env MEDSHIELD_DATA)')
    .action(action(async (o: AttackCli, cmd: Command) => {
      const attack = getAttack(o.attack);
      const epsList = parseEpsilonList(o.eps);
      const stepSize = o.stepSize !== undefined ? parseEpsilon(o.stepSize) : undefined;
      const norm: Norm = o.norm ?? attack.defaultNorm;
      if (!attack.norms.includes(norm)) throw unsupported(`attack '${attack.name}' does not support the ${norm} norm (choose ${attack.norms.join(', ')})`);
      const engine = await startEngine(o);
      const model = await loadModel(o.model);
      if (!model.differentiable) throw unsupported(`white-box attacks need gradients; '${o.model}' is a forward-only (ONNX) model`);
      const d = model.inputShape[0] * model.inputShape[1] * model.inputShape[2];
      for (const e of epsList) checkEpsilon(e.value, norm, d, e.text);
      const k = model.classes.length;
      let criterion: Criterion = { kind: 'untargeted' };
      if (o.targeted || o.target !== undefined) {
        if (!attack.targeted) throw unsupported(`attack '${attack.name}' has no targeted mode`);
        if (o.target === undefined || o.target === 'other') {
          if (model.task === 'multiclass' || model.task === 'ordinal') throw badArgument(`--targeted on a ${k}-class task needs --target CLASS (0..${k - 1})`);
          criterion = { kind: 'targeted', target: 'other' };
        } else {
          const t = Number(o.target);
          if (!/^\d+$/.test(o.target) || t >= (model.task === 'multilabel' ? 2 : k)) throw badArgument(`--target must be a class between 0 and ${(model.task === 'multilabel' ? 2 : k) - 1}, got '${o.target}'`);
          criterion = { kind: 'targeted', target: t };
        }
      }
      let label: number | 'all' = 'all';
      if (o.label !== undefined && o.label !== 'all') {
        if (!/^\d+$/.test(o.label) || Number(o.label) >= k) throw badArgument(`--label must be 'all' or a label between 0 and ${k - 1}, got '${o.label}'`);
        label = Number(o.label);
      }
      if (model.task === 'multilabel' && criterion.kind === 'targeted' && label === 'all') throw badArgument('a targeted attack on a multi-label head needs --label N');
      const data = await loadDataset(o.dataset ?? model.card.dataset.name, { dataDir: o.dataDir });
      const split = data.splits[o.split];
      checkInputMatches(model.card, { height: split.height, width: split.width, channels: split.channels, classes: data.info.classes.length, task: data.info.task, name: data.name });
      const images = selectImages(split, o.limit, o.seed);
      const opts: Omit<AttackOptions, 'eps'> = { norm, criterion, label, steps: o.steps, stepSize, loss: o.loss, restarts: o.restarts, seed: o.seed };
      const bar = progress(`${attack.name}`, epsList.length * images.n, { quiet: !!o.json });
      const evals = await epsilonSweep(model, images, attack, epsList, opts, {
        batchSize: o.batchSize, onProgress: (i, done, total) => bar.update(Math.round(i * images.n + (done / total) * images.n), { eps: epsList[i]?.text ?? '' }),
      });
      bar.stop();
      const command = ['medshield', ...process.argv.slice(2)].map((a) => (/^[\w./,:=@+-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`)).join(' ');
      if (o.records) {
        const all = evals.flatMap((ev) => ev.records.map((r) => ({ ...r, eps: ev.summary.eps })));
        writeRecords(o.records, all, { attack: attack.name, norm });
      }
      if (o.saveExamples) {
        evals.forEach((ev) => saveExamples(o.saveExamples!, makeExamples(ev.records, images.x, ev.xAdv, images.shape, model.classes, 8, 4), `${attack.name}-eps${ev.summary.epsText.replace(/[^\w.]+/g, '_')}-`));
      }
      if (o.report) {
        const report = buildReport({
          card: model.card, modelPath: resolveModelPath(o.model), dataset: { name: data.name, split: o.split, sha256: data.sha256, path: data.path, limit: o.limit },
          images, evaluations: evals, seed: o.seed, engine: engine.backend, command,
        });
        await writeHtml(o.report, report);
      }
      const results = evals.map((e) => cliResult(e.summary));
      void cmd;
      if (o.json) return printJson(results.length === 1 ? results[0] : results);
      const lines = evals.map((e) => {
        const s = e.summary;
        return `${s.attack} ${s.norm} ε=${s.epsText}: clean ${s.cleanAccuracy.toFixed(4)} → robust ${s.robustAccuracy.toFixed(4)}, success ${s.attackSuccessRate === null ? '—' : s.attackSuccessRate.toFixed(4)}${s.targetedSuccessRate !== undefined ? ` (targeted ${s.targetedSuccessRate?.toFixed(4)})` : ''}, mean L∞ ${s.meanLinf?.toFixed(4) ?? '—'}, L2 ${s.meanL2?.toFixed(4) ?? '—'}, SSIM ${s.meanSSIM?.toFixed(4) ?? '—'}, PSNR ${s.meanPSNR?.toFixed(2) ?? '—'} dB, ${s.seconds.toFixed(1)} s (${s.imagesPerSecond.toFixed(1)} img/s)`;
      });
      process.stdout.write(`${model.card.name} on ${data.name}/${o.split} (n=${images.n}):\n${lines.map((l) => '  ' + l).join('\n')}\n`);
      for (const e of evals) for (const c of e.summary.components ?? []) process.stdout.write(`  ε=${e.summary.epsText} after ${c.name}: robust ${c.robustAccuracy.toFixed(4)} (worst case so far)\n`);
      const notes = [...new Set(evals.flatMap((e) => e.summary.notes))];
      for (const n of notes) process.stdout.write(`  note: ${n}\n`);
      if (o.report) process.stdout.write(`  report: ${o.report}\n`);
    }));
}
