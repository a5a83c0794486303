/**
 * `medshield attack`: run an evasion attack on a dataset split and report robust accuracy, attack
 * success rate and perturbation sizes, for one ε (an object) or several (an array). White-box
 * attacks need the model's gradients; query attacks (square, simba, nes, hsj, boundary) query a
 * target — the model in process, an ONNX file (`--target-onnx`) or an HTTP endpoint
 * (`--target-url`) — and add mean/median queries; `transfer` crafts on `--surrogate` models.
 * With `--out FILE`, results are written after every ε, and a failure keeps what was done.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { action, parseIntArg, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import type { SplitName } from '../../data/dataset.js';
import { addImageSetOptions, DATASET_HELP, loadDataFor, withImageSet, type DataCli } from '../data-options.js';
import { writeFileSync, renameSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { loadModel, loadClassifier, resolveModelPath } from '../../models/io.js';
import type { Model } from '../../models/model.js';
import { checkInputMatches } from '../../models/card.js';
import { getAttack, ATTACK_NAMES } from '../../attacks/registry.js';
import { parseEpsilon, parseEpsilonList, checkEpsilon } from '../../attacks/epsilon.js';
import type { AttackOptions, Criterion, LossName, Norm } from '../../attacks/types.js';
import { selectImages } from '../../eval/images.js';
import { epsilonSweep, stepSweep } from '../../eval/sweep.js';
import { writeRecords } from '../../eval/records.js';
import { makeExamples, saveExamples } from '../../eval/examples.js';
import { saveAdversarialSet } from '../../eval/adversarial-set.js';
import type { AttackEvaluation, AttackSummary, Victim } from '../../eval/robustness.js';
import { addTargetOptions, openVictimTarget, usesRemoteTarget, type TargetCli } from '../target-options.js';
import type { Target } from '../../attacks/target.js';
import { buildReport } from '../../report/build.js';
import { writeHtml } from '../../report/html.js';
import { badArgument, unsupported, MedshieldError } from '../../errors.js';
import { progress } from '../progress.js';

interface AttackCli extends CommonOptions, TargetCli, DataCli {
  maxQueries?: number; pInit?: string; surrogate?: string; baseAttack: string; out?: string;
  model: string; split: SplitName; limit?: number; attack: string; eps: string; steps?: string; stepSize?: string;
  norm?: Norm; targeted?: boolean; target?: string; label?: string; loss?: LossName; restarts?: number; batchSize: number;
  saveExamples?: string; saveAdversarial?: string; records?: string; report?: string;
}

/** The fixed JSON object of the CLI contract (plus notes/components/targeted success when relevant). */
export function cliResult(s: AttackSummary): Record<string, unknown> {
  const out: Record<string, unknown> = {
    attack: s.attack, norm: s.norm, eps: s.eps, steps: s.steps, n: s.n, cleanAccuracy: s.cleanAccuracy, robustAccuracy: s.robustAccuracy,
    attackSuccessRate: s.attackSuccessRate, meanLinf: s.meanLinf, meanL2: s.meanL2, meanSSIM: s.meanSSIM, meanPSNR: s.meanPSNR,
    seconds: s.seconds, imagesPerSecond: s.imagesPerSecond,
  };
  if (s.meanQueries !== undefined) { out.meanQueries = s.meanQueries; out.medianQueries = s.medianQueries; out.maxQueries = s.maxQueries; }
  if (s.target) out.target = s.target;
  if (s.targetedSuccessRate !== undefined) out.targetedSuccessRate = s.targetedSuccessRate;
  // minimum-norm attacks (CW, DeepFool, HSJ, Boundary, …) are compared by their median distance
  if (s.minimumNorm) { out.medianL2 = s.medianL2; out.medianLinf = s.medianLinf; }
  if (s.components) out.components = s.components;
  if (s.notes.length) out.notes = s.notes;
  return out;
}

export default function register(program: Command): void {
  const cmd = withCommon(program.command('attack').description('evasion attack (white-box, query-based or transfer) on a dataset split: robust accuracy, success rate, perturbation size, queries'))
    .option('--model <dir>', "model directory, or 'default' for the shipped model", 'default')
    .option('--dataset <name|path|dir|csv>', DATASET_HELP)
    .addOption(new Option('--split <name>', 'split').choices(['train', 'val', 'test']).default('test'))
    .option('--limit <n>', 'attack a seeded sample of N images', parseIntArg('--limit', 1, 1e9))
    .requiredOption('--attack <name>', `attack: ${ATTACK_NAMES.join(', ')}`)
    .requiredOption('--eps <list>', 'perturbation budget(s): 8/255 or 0.0314, comma-separated for a sweep')
    .option('--steps <list>', 'iterations (default: the attack\'s own); comma-separated for a step sweep at one ε, e.g. 5,10,20,50')
    .option('--step-size <x>', 'step size α (e.g. 0.5/255)')
    .addOption(new Option('--norm <norm>', "norm of the ε ball (default: the attack's native norm)").choices(['linf', 'l2', 'l1', 'l0']))
    .option('--targeted', 'targeted attack (binary tasks: the other class unless --target)')
    .option('--target <class>', "target class index, or 'other' on binary tasks")
    .option('--label <n|all>', 'multi-label heads: the label to attack (default all)')
    .addOption(new Option('--loss <name>', 'loss for gradient attacks').choices(['ce', 'cw', 'dlr']))
    .option('--restarts <n>', 'random restarts (PGD, APGD, FAB)', parseIntArg('--restarts', 1, 1000))
    .option('--batch-size <n>', 'images per attack batch', parseIntArg('--batch-size', 1, 65536), 128)
    .option('--save-examples <dir>', 'write original/adversarial/difference PNGs of a few examples')
    .option('--save-adversarial <file.npz>', 'write the float32 adversarial set (clean_images, adv_images, labels, indices, clean/adv_predictions, success, eps, steps) as NumPy .npz')
    .option('--records <file>', 'write per-sample records (.json or .csv)')
    .option('--report <file>', 'write a self-contained HTML report')
    .option('--data-dir <dir>', 'dataset cache directory (env MEDSHIELD_DATA)')
    .option('--max-queries <n>', 'query attacks: budget of target queries per image (default: the attack\'s own, 5000)', parseIntArg('--max-queries', 1, 1e9))
    .option('--p-init <x>', 'square: initial fraction of pixels changed per window (default 0.05 L∞, 0.1 L2)')
    .option('--surrogate <dirs>', 'transfer: surrogate model director(ies), comma-separated (an ensemble averages their logits)')
    .option('--base-attack <name>', 'transfer: the white-box attack run on the surrogate', 'pgd')
    .option('--out <file>', 'also write the JSON result to FILE, after every ε (a failure keeps the finished part)');
  addTargetOptions(addImageSetOptions(cmd))
    .action(action(async (o: AttackCli) => {
      const attack = getAttack(o.attack);
      const epsList = parseEpsilonList(o.eps);
      const stepList = o.steps === undefined ? [] : o.steps.split(',').map((t) => {
        const v = Number(t.trim());
        if (!/^\s*\d+\s*$/.test(t) || !(v >= 1 && v <= 1e6)) throw badArgument(`--steps must be positive integers (comma-separated for a sweep), got '${o.steps}'`);
        return v;
      });
      if (stepList.length > 1 && epsList.length > 1) throw badArgument('sweep either ε or --steps, not both at once');
      if (stepList.length > 1 && attack.threatModel !== 'whitebox') throw badArgument('a step sweep needs a white-box iterative attack (query attacks: use --max-queries; the report plots success against queries)');
      const stepSize = o.stepSize !== undefined ? parseEpsilon(o.stepSize) : undefined;
      const norm: Norm = o.norm ?? attack.defaultNorm;
      if (!attack.norms.includes(norm)) throw unsupported(`attack '${attack.name}' does not support the ${norm} norm (choose ${attack.norms.join(', ')})`);
      const whitebox = attack.threatModel === 'whitebox';
      if (whitebox && usesRemoteTarget(o)) throw badArgument(`'${attack.name}' is a white-box attack; --target-url/--target-onnx need a query attack (square, simba, simba-dct, nes, hsj, boundary, transfer)`);
      if (!whitebox && o.maxQueries === undefined && attack.name !== 'transfer' && o.steps !== undefined) throw badArgument(`query attacks are budgeted by --max-queries, not --steps`);
      if (attack.name === 'transfer' && !o.surrogate) throw badArgument('--attack transfer needs --surrogate DIR[,DIR…] (models trained independently of the target)');
      if (o.surrogate && attack.name !== 'transfer') throw badArgument('--surrogate is only used by --attack transfer');
      const pInit = o.pInit !== undefined ? Number(o.pInit) : undefined;
      if (pInit !== undefined && !(pInit > 0 && pInit <= 1)) throw badArgument(`--p-init must be in (0, 1], got '${o.pInit}'`);
      if (o.targetUrl && !o.dataset) throw badArgument('--target-url needs --dataset NAME|FILE (the images to send to the endpoint)');
      const engine = await startEngine(o);
      // The model: needed for white-box attacks and in-process targets; a remote target brings its own.
      const model: Model | null = usesRemoteTarget(o) ? null : await loadModel(o.model);
      if (whitebox && model && !model.differentiable) throw unsupported(`white-box attacks need gradients; '${o.model}' is a forward-only (ONNX) model (use a query attack)`);
      const surrogates = o.surrogate ? await Promise.all(o.surrogate.split(',').map((s) => s.trim()).filter(Boolean).map((s) => loadClassifier(s))) : undefined;
      let target: Target | null = null;
      if (!whitebox && o.targetOnnx) target = await openVictimTarget(o, {});
      const datasetSpec = o.dataset ?? (model ? model.card.dataset.name : (target as unknown as { model?: Model })?.model?.card.dataset.name);
      if (!datasetSpec) throw badArgument('give --dataset NAME|FILE for this target');
      const data = await loadDataFor({ ...o, dataset: datasetSpec }, model?.card ?? (target as unknown as { model?: Model })?.model?.card, { split: o.split });
      const split = data.splits[o.split];
      const meta = { inputShape: [split.height, split.width, split.channels] as [number, number, number], classes: data.info.classes, task: data.info.task };
      if (!whitebox && !target) target = await openVictimTarget(o, { ...meta, model: model ?? undefined });
      const victim: Victim = whitebox ? model! : target!;
      const card = model?.card ?? (target as unknown as { model?: Model })?.model?.card;
      const d = victim.inputShape[0] * victim.inputShape[1] * victim.inputShape[2];
      for (const e of epsList) checkEpsilon(e.value, norm, d, e.text);
      const k = victim.classes.length;
      let criterion: Criterion = { kind: 'untargeted' };
      if (o.targeted || o.target !== undefined) {
        if (!attack.targeted) throw unsupported(`attack '${attack.name}' has no targeted mode`);
        if (o.target === undefined || o.target === 'other') {
          if (victim.task === 'multiclass' || victim.task === 'ordinal') throw badArgument(`--targeted on a ${k}-class task needs --target CLASS (0..${k - 1})`);
          criterion = { kind: 'targeted', target: 'other' };
        } else {
          const t = Number(o.target);
          if (!/^\d+$/.test(o.target) || t >= (victim.task === 'multilabel' ? 2 : k)) throw badArgument(`--target must be a class between 0 and ${(victim.task === 'multilabel' ? 2 : k) - 1}, got '${o.target}'`);
          criterion = { kind: 'targeted', target: t };
        }
      }
      let label: number | 'all' = 'all';
      if (o.label !== undefined && o.label !== 'all') {
        if (!/^\d+$/.test(o.label) || Number(o.label) >= k) throw badArgument(`--label must be 'all' or a label between 0 and ${k - 1}, got '${o.label}'`);
        label = Number(o.label);
      }
      if (victim.task === 'multilabel' && criterion.kind === 'targeted' && label === 'all') throw badArgument('a targeted attack on a multi-label head needs --label N');
      const dataFacts = { height: split.height, width: split.width, channels: split.channels, classes: data.info.classes.length, task: data.info.task, name: data.name };
      if (card) checkInputMatches(card, dataFacts);
      else if (victim.inputShape.join('×') !== meta.inputShape.join('×') || victim.classes.length !== meta.classes.length) {
        throw badArgument(`target '${target!.name}' takes ${victim.inputShape.join('×')} images with ${victim.classes.length} classes, but ${data.name} has ${meta.inputShape.join('×')} images with ${meta.classes.length}`);
      }
      for (const sm of surrogates ?? []) checkInputMatches(sm.card, dataFacts);
      const images = selectImages(split, o.limit, o.seed);
      const opts: Omit<AttackOptions, 'eps'> = { norm, criterion, label, steps: stepList[0], stepSize, loss: o.loss, restarts: o.restarts, seed: o.seed, maxQueries: o.maxQueries, pInit, surrogates, baseAttack: o.baseAttack };
      const runsTotal = Math.max(epsList.length, stepList.length);
      const bar = progress(`${attack.name}`, runsTotal * images.n);
      const finished: AttackEvaluation[] = [];
      const partialBatches: Array<{ eps: string; index: number; success: boolean; queries?: number }> = [];
      let evals: AttackEvaluation[];
      try {
        const sweepOpts = {
          batchSize: o.batchSize, onProgress: (i: number, done: number, total: number) => bar.update(Math.round(i * images.n + (done / total) * images.n), { eps: epsList[Math.min(i, epsList.length - 1)]?.text ?? '' }),
          onResult: (ev: AttackEvaluation) => { finished.push(ev); partialBatches.length = 0; if (o.out) writeOut(o.out, finished.map((e) => cliResult(e.summary)), runsTotal); },
          onBatch: (i: number, start: number, r: { success: Uint8Array; queriesPerSample?: Int32Array }) => r.success.forEach((v, j) => partialBatches.push({ eps: epsList[Math.min(i, epsList.length - 1)]?.text ?? '', index: images.indices?.[start + j] ?? start + j, success: !!v, queries: r.queriesPerSample?.[j] })),
        };
        evals = stepList.length > 1
          ? await stepSweep(victim, images, attack, stepList, { ...opts, eps: epsList[0].value, epsText: epsList[0].text } as AttackOptions, sweepOpts)
          : await epsilonSweep(victim, images, attack, epsList, opts, sweepOpts);
      } catch (e) {
        bar.stop();
        if (o.out) {
          const msg = e instanceof Error ? e.message : String(e);
          writeOut(o.out, { error: msg, completed: finished.map((ev) => cliResult(ev.summary)), partial: partialBatches }, runsTotal);
          if (e instanceof MedshieldError) e.message = `${msg} (finished results kept in ${o.out})`;
        }
        throw e;
      } finally {
        await target?.close?.();
      }
      bar.stop();
      const command = ['medshield', ...process.argv.slice(2)].map((a) => (/^[\w./,:=@+-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`)).join(' ');
      if (o.records) {
        const files = data.imageSet?.files[o.split];
        const all = evals.flatMap((ev) => ev.records.map((r) => ({ ...r, eps: ev.summary.eps, ...(files ? { file: files[r.index] } : {}) })));
        writeRecords(o.records, all, { attack: attack.name, norm });
      }
      if (o.saveAdversarial) saveAdversarialSet(o.saveAdversarial, images, evals);
      if (o.saveExamples) {
        evals.forEach((ev) => saveExamples(o.saveExamples!, makeExamples(ev.records, images.x, ev.xAdv, images.shape, victim.classes, 8, 4), `${attack.name}-eps${ev.summary.epsText.replace(/[^\w.]+/g, '_')}-`));
      }
      if (o.report) {
        const report = buildReport({
          card: card ?? syntheticCard(victim, data.name), modelPath: target && target.kind === 'http' ? target.name : o.targetOnnx ?? resolveModelPath(o.model), dataset: { name: data.name, split: o.split, sha256: data.sha256, path: data.path, limit: o.limit },
          images, evaluations: evals, seed: o.seed, engine: engine.backend, command,
        });
        await writeHtml(o.report, report);
      }
      const results = evals.map((e) => cliResult(e.summary));
      if (o.json) return printJson(withImageSet(results.length === 1 ? results[0] : results, data));
      const lines = evals.map((e) => {
        const s = e.summary;
        return `${s.attack} ${s.norm} ε=${s.epsText}: clean ${s.cleanAccuracy.toFixed(4)} → robust ${s.robustAccuracy.toFixed(4)}, success ${s.attackSuccessRate === null ? '—' : s.attackSuccessRate.toFixed(4)}${s.targetedSuccessRate !== undefined ? ` (targeted ${s.targetedSuccessRate?.toFixed(4)})` : ''}, mean L∞ ${s.meanLinf?.toFixed(4) ?? '—'}, L2 ${s.meanL2?.toFixed(4) ?? '—'}, SSIM ${s.meanSSIM?.toFixed(4) ?? '—'}, PSNR ${s.meanPSNR?.toFixed(2) ?? '—'} dB${s.meanQueries !== undefined ? `, queries mean ${s.meanQueries ?? '—'} median ${s.medianQueries ?? '—'} (budget ${s.maxQueries})` : ''}, ${s.seconds.toFixed(1)} s (${s.imagesPerSecond.toFixed(1)} img/s)`;
      });
      process.stdout.write(`${target ? `${target.kind} target ${target.name}` : card?.name} on ${data.name}/${o.split} (n=${images.n}):\n${lines.map((l) => '  ' + l).join('\n')}\n`);
      for (const e of evals) for (const c of e.summary.components ?? []) process.stdout.write(`  ε=${e.summary.epsText} after ${c.name}: robust ${c.robustAccuracy.toFixed(4)} (worst case so far)\n`);
      const notes = [...new Set(evals.flatMap((e) => e.summary.notes))];
      for (const n of notes) process.stdout.write(`  note: ${n}\n`);
      if (o.report) process.stdout.write(`  report: ${o.report}\n`);
    }));
}

/** Write JSON atomically (temp file + rename), so a crash never leaves half a file. */
function writeOut(file: string, value: unknown, nEps: number): void {
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const v = Array.isArray(value) && nEps === 1 && value.length === 1 ? value[0] : value;
  writeFileSync(`${file}.tmp`, JSON.stringify(v, null, 1) + '\n');
  renameSync(`${file}.tmp`, file);
}

/** A minimal card for a remote target (its name, data and classes), so reports can be written. */
function syntheticCard(v: Victim, dataset: string): import('../../models/card.js').ModelCard {
  const [h, w, c] = v.inputShape;
  return {
    schema: 'medshield.model-card/1', name: 'name' in v ? v.name : 'target',
    architecture: { name: 'remote', width: 0, parameters: 0, format: 'remote' },
    dataset: { name: dataset, size: h, task: v.task, classes: v.classes, sha256: '', splits: { train: 0, val: 0, test: 0 } },
    input: { shape: [h, w, c], range: [0, 1], layout: 'NHWC', normalization: 'unknown (remote)', resize: 'unknown' },
    metrics: {}, medshieldVersion: '', gitCommit: null, createdAt: new Date(0).toISOString(),
  } as unknown as import('../../models/card.js').ModelCard;
}
