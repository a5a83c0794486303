/**
 * `medshield replicate finlayson|ma`: the seed papers' white-box settings on MedMNIST, each result
 * beside the paper's headline, with an HTML report. `--quick` trains small models briefly and attacks
 * a seeded sample of test images so a run fits in minutes on 2 cores.
 */
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { action, parseIntArg, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import { loadDataset, sampleSplit, type Dataset } from '../../data/dataset.js';
import { newClassifier, fitClassifier } from '../../models/factory.js';
import { loadClassifier, saveModel, defaultModelDir, surrogateModelDir } from '../../models/io.js';
import { finlaysonBlackbox, type BlackboxRow } from '../../eval/replicate-blackbox.js';
import type { Architecture } from '../../models/architectures.js';
import type { Classifier } from '../../models/model.js';
import { finlaysonRow, maRows, maAttackOptions, maEpsilon, restrictClasses, saliencyAnalysis, replicationSettings, HEADLINES, type ReplicationRow } from '../../eval/replicate.js';
import { selectImages } from '../../eval/images.js';
import { evaluateAttack } from '../../eval/robustness.js';
import { ATTACKS } from '../../attacks/registry.js';
import { writeReplication, type ReplicationReport } from '../../report/replication.js';
import { badArgument } from '../../errors.js';
import { parseEpsilon } from '../../attacks/epsilon.js';
import { replicateAmit, printAmit } from './replicate-amit.js';
import { maDetection, formatMaDetection } from '../../eval/replicate-detectors.js';
import { activity, type Activity } from '../progress.js';

interface ReplicateCli extends CommonOptions { detectors?: boolean; eps?: string; defences?: string; blackbox?: boolean; surrogate?: string; quick?: boolean; dataset: string; models: string; limit?: number; work?: string; report?: string; dataDir?: string }

let stages: Activity | null = null;
const log = (_o: ReplicateCli, s: string): void => { (stages ??= activity('replicate')).stage(s); };

async function trainedModel(o: ReplicateCli, data: Dataset, arch: Architecture, width: number, seed = o.seed): Promise<Classifier> {
  const quick = !!o.quick;
  const epochs = quick ? (arch === 'cnn' ? 2 : 1) : 10;
  const trainN = quick ? 2000 : data.splits.train.n;
  if (!quick && arch === 'resnet18' && data.name === 'pneumoniamnist' && seed === o.seed && existsSync(path.join(defaultModelDir(), 'model.json'))) return loadClassifier('default');
  if (!quick && arch === 'resnet18' && data.name === 'pneumoniamnist' && seed !== o.seed && existsSync(path.join(surrogateModelDir(), 'model.json'))) return loadClassifier(surrogateModelDir());
  const dir = path.join(o.work ?? path.join(tmpdir(), 'medshield-replicate'), `${data.name}-${arch}-w${width}-e${epochs}-n${Math.min(trainN, data.splits.train.n)}-s${seed}`);
  if (existsSync(path.join(dir, 'model-card.json'))) return loadClassifier(dir);
  log(o, `training ${arch} (width ${width}, ${epochs} epoch${epochs > 1 ? 's' : ''}, seed ${seed}) on ${data.name}…`);
  const d2 = { ...data, splits: { ...data.splits, train: sampleSplit(data.splits.train, trainN, seed) } };
  const m = newClassifier(arch, d2, { width, seed, name: `${arch}-w${width}-${data.name}${seed !== o.seed ? `-seed${seed}` : ''}` });
  await fitClassifier(m, d2, { epochs, batchSize: 64, seed });
  await saveModel(m, dir);
  return m;
}

export default function register(program: Command): void {
  withCommon(program.command('replicate').description("replicate the seed papers' results on MedMNIST: finlayson | ma (white-box, black-box) | amit (adaptive attacks vs every defence)").argument('<paper>', 'finlayson, ma or amit'))
    .option('--quick', 'small models, short training, a seeded sample of test images (minutes on 2 cores)')
    .option('--blackbox', 'finlayson: transfer PGD from an independently trained surrogate, and adversarial patches (white-box, black-box, natural)')
    .option('--detectors', "ma: fit kd_bu, lid, mahalanobis and deepfeature_rf on PGD and print the detection AUC per test attack beside the paper's > 98 % (only this part of ma)")
    .option('--surrogate <dir>', '--blackbox: the surrogate model (default: the shipped one for PneumoniaMNIST, else trained with seed+1)')
    .option('--dataset <list>', 'comma-separated MedMNIST names or .npz paths (e.g. a DermaMNIST file)', 'pneumoniamnist,retinamnist')
    .option('--models <list>', 'architectures to attack', 'cnn,resnet18')
    .option('--limit <n>', 'test images per dataset (default: 64 with --quick — 100 for ma --detectors — else all)', parseIntArg('--limit', 1, 1e9))
    .option('--work <dir>', 'where trained models are cached')
    .option('--eps <eps>', 'amit: L∞ budget of the scorecard (default 8/255)')
    .option('--defences <list>', 'amit: defences and detectors (default: adversarial-training, jpeg, squeeze, kd_bu, lid, mahalanobis, deepfeature_rf, magnet, smoothing)')
    .option('--report <file>', 'HTML report (default replicate-<paper>.html)')
    .option('--data-dir <dir>', 'dataset cache directory (env MEDSHIELD_DATA)')
    .action(action(async (paper: string, o: ReplicateCli, cmd: Command) => {
      if (paper !== 'finlayson' && paper !== 'ma' && paper !== 'amit') throw badArgument(`unknown paper '${paper}' (choose finlayson, ma or amit)`);
      if ((o.eps || o.defences) && paper !== 'amit') throw badArgument('--eps and --defences are options of replicate amit');
      if (o.detectors && paper !== 'ma') throw badArgument('--detectors is an option of replicate ma');
      if (paper === 'amit') {
        if (o.blackbox || o.surrogate) throw badArgument('--blackbox and --surrogate belong to replicate finlayson');
        const epsText = o.eps ?? '8/255';
        const eps = parseEpsilon(epsText);
        await startEngine(o);
        const r = await replicateAmit({ quick: !!o.quick, seed: o.seed, datasets: o.dataset.split(',').map((s) => s.trim()).filter(Boolean), defences: o.defences, eps, epsText, limit: o.limit, work: o.work, report: o.report ?? 'replicate-amit.html', dataDir: o.dataDir, log: (s) => log(o, s) }, `medshield ${process.argv.slice(2).join(' ')}`);
        return o.json ? printJson(r) : printAmit(r);
      }
      if (o.blackbox && paper !== 'finlayson') throw badArgument('--blackbox replicates Finlayson et al.; use it with finlayson');
      if (o.surrogate && !o.blackbox) throw badArgument('--surrogate is used with --blackbox');
      if (o.blackbox && cmd.getOptionValueSource('models') !== 'cli') o.models = 'resnet18';
      const archs = o.models.split(',').map((s) => s.trim()) as Architecture[];
      for (const a of archs) if (!['cnn', 'resnet18', 'resnet50'].includes(a)) throw badArgument(`unknown model '${a}' (choose cnn, resnet18, resnet50)`);
      const t0 = performance.now();
      const engine = await startEngine(o);
      const limit = o.limit ?? (o.quick ? 64 : undefined);
      const width = (a: Architecture): number => (o.quick ? 16 : a === 'cnn' ? 32 : 64);
      const rows: ReplicationRow[] = [];
      const notes: string[] = [`engine: ${engine.backend}`, replicationSettings(paper, !!o.quick)];
      const datasets: Dataset[] = [];
      for (const spec of o.dataset.split(',').map((s) => s.trim()).filter(Boolean)) datasets.push(await loadDataset(spec, { dataDir: o.dataDir }));
      const trained = new Map<string, Classifier>();
      if (o.blackbox) return blackbox(o, datasets, archs, width, limit, engine.backend, t0);
      if (o.detectors) return detectors(o, datasets, archs, width, engine.backend, t0);
      for (const data of datasets) {
        const img = selectImages(data.splits.test, limit, o.seed);
        for (const arch of archs) {
          const m = await trainedModel(o, data, arch, width(arch));
          trained.set(`${data.name}/${arch}`, m);
          if (paper === 'finlayson') rows.push(await finlaysonRow(m, data.name, img, o.seed, (s) => log(o, s)));
          else rows.push(...await maRows(m, data.name, img, o.seed, !!o.quick, (s) => log(o, s)));
        }
      }
      const report: ReplicationReport = {
        paper, title: paper === 'finlayson' ? 'Replication: Finlayson et al., "Adversarial attacks on medical machine learning" (Science 2019)' : 'Replication: Ma et al., "Understanding adversarial attacks on deep learning based medical image analysis systems" (Pattern Recognition 2021)',
        headline: HEADLINES[paper].text, rows, command: ['medshield', ...process.argv.slice(2)].join(' '), seconds: 0, quick: !!o.quick, notes,
      };
      if (paper === 'ma') {
        // Finding 1: success against the number of classes (RetinaMNIST restricted to 2..5 grades)
        const retina = datasets.find((d) => d.name === 'retinamnist') ?? await loadDataset('retinamnist', { dataDir: o.dataDir });
        const eps = maEpsilon('retinamnist');
        report.classes = [];
        for (const k of [2, 3, 4, 5]) {
          const sub = k === 5 ? retina : restrictClasses(retina, k);
          const m = await trainedModel(o, sub, 'cnn', width('cnn'));
          const ev = await evaluateAttack(m, selectImages(sub.splits.test, limit, o.seed), ATTACKS.pgd, { ...maAttackOptions(!!o.quick)('pgd', eps.value), eps: eps.value, epsText: eps.text, seed: o.seed });
          log(o, `ma: ${k} classes → success ${ev.summary.attackSuccessRate}`);
          report.classes.push({ classes: k, cleanAccuracy: ev.summary.cleanAccuracy, attackSuccessRate: ev.summary.attackSuccessRate, eps: eps.text });
        }
        // Finding 2: success against capacity (first dataset)
        const first = datasets[0];
        const e1 = maEpsilon(first.name);
        const img = selectImages(first.splits.test, limit, o.seed);
        report.capacity = [];
        const variants: Array<[Architecture, number]> = o.quick ? [['cnn', 8], ['cnn', 16], ['resnet18', 16]] : [['cnn', 8], ['cnn', 16], ['cnn', 32], ['resnet18', 64], ['resnet50', 64]];
        let pgdAdv: Float32Array | null = null; let salModel: Classifier | null = null;
        for (const [arch, w] of variants) {
          const m = await trainedModel(o, first, arch, w);
          const ev = await evaluateAttack(m, img, ATTACKS.pgd, { ...maAttackOptions(!!o.quick)('pgd', e1.value), eps: e1.value, epsText: e1.text, seed: o.seed });
          log(o, `ma: ${arch} width ${w} → success ${ev.summary.attackSuccessRate}`);
          report.capacity.push({ model: `${arch} w${w}`, parameters: m.card.architecture.parameters, cleanAccuracy: ev.summary.cleanAccuracy, attackSuccessRate: ev.summary.attackSuccessRate, eps: e1.text });
          if (arch === 'cnn' && !pgdAdv) { pgdAdv = ev.xAdv; salModel = m; }
        }
        // Finding 3: where perturbations fall
        if (pgdAdv && salModel) report.saliency = { ...(await saliencyAnalysis(salModel, img, pgdAdv)), dataset: first.name, model: salModel.card.name };
        notes.push('Ma et al. trained on 224-px images with ImageNet-pretrained networks; these models are trained from scratch on 28-px MedMNIST images' + (o.quick ? ' briefly (--quick)' : '') + '.');
      }
      report.seconds = (performance.now() - t0) / 1000;
      const file = o.report ?? `replicate-${paper}.html`;
      await writeReplication(file, report);
      const summary = rows.map((r) => ({ dataset: r.dataset, model: r.model, attack: r.attack, cleanAccuracy: r.runs[0]?.cleanAccuracy, atPaperEps: r.atPaperEps ? { eps: r.atPaperEps.epsText, robustAccuracy: r.atPaperEps.robustAccuracy, attackSuccessRate: r.atPaperEps.attackSuccessRate } : null, matchesHeadlineAt: r.matchesAt, sweep: r.runs.map((s) => ({ eps: s.epsText, robustAccuracy: s.robustAccuracy, attackSuccessRate: s.attackSuccessRate })) }));
      if (o.json) return printJson({ paper, headline: HEADLINES[paper].text, rows: summary, classes: report.classes, capacity: report.capacity, saliency: report.saliency ? { massOnTopSalient: report.saliency.massOnTopSalient, correlation: report.saliency.correlation } : undefined, seconds: Math.round(report.seconds), report: file });
      process.stdout.write(`${report.title}\nheadline: ${HEADLINES[paper].text}\n`);
      for (const r of summary) {
        const at = r.atPaperEps;
        process.stdout.write(`  ${r.dataset} ${r.model} ${r.attack}: clean ${r.cleanAccuracy?.toFixed(3)}; ${at ? (paper === 'finlayson' ? `robust ${at.robustAccuracy.toFixed(3)} at ${at.eps}` : `success ${at.attackSuccessRate?.toFixed(3)} at ${at.eps}`) : '—'}; matches the headline from ε = ${r.matchesHeadlineAt ?? 'never (in the sweep)'}\n`);
      }
      process.stdout.write(`report: ${file} (${report.seconds.toFixed(0)} s)\n`);
    }));
}

/** `replicate ma --detectors`: the detection AUC table (src/eval/replicate-detectors.ts). */
async function detectors(o: ReplicateCli, datasets: Dataset[], archs: Architecture[], width: (a: Architecture) => number, backend: string, t0: number): Promise<void> {
  const targets: Array<{ model: Classifier; data: Dataset }> = [];
  for (const data of datasets) for (const arch of archs) targets.push({ model: await trainedModel(o, data, arch, width(arch)), data });
  const detection = await maDetection(targets, { quick: !!o.quick, seed: o.seed, limit: o.limit, onProgress: (s) => log(o, s) });
  const seconds = (performance.now() - t0) / 1000;
  const file = o.report ?? 'replicate-ma-detectors.html';
  await writeReplication(file, {
    paper: 'ma', title: 'Replication: Ma et al., "Understanding adversarial attacks on deep learning based medical image analysis systems" (Pattern Recognition 2021) — detection',
    headline: detection.claim, rows: [], detection, command: ['medshield', ...process.argv.slice(2)].join(' '), seconds, quick: !!o.quick, notes: [`engine: ${backend}`],
  });
  if (o.json) return printJson({ paper: 'ma', detectors: detection, seconds: Math.round(seconds), report: file });
  process.stdout.write(`Replication: Ma et al. (Pattern Recognition 2021) — detection\n${formatMaDetection(detection)}report: ${file} (${seconds.toFixed(0)} s)\n`);
}

/** `replicate finlayson --blackbox`: transfer and patches per dataset and target architecture. */
async function blackbox(o: ReplicateCli, datasets: Dataset[], archs: Architecture[], width: (a: Architecture) => number, limit: number | undefined, backend: string, t0: number): Promise<void> {
  const rows: BlackboxRow[] = [];
  for (const data of datasets) {
    const img = selectImages(data.splits.test, limit, o.seed);
    for (const arch of archs) {
      const target = await trainedModel(o, data, arch, width(arch));
      const surrogate = o.surrogate ? await loadClassifier(o.surrogate) : await trainedModel(o, data, arch, width(arch), o.seed + 1);
      const row = await finlaysonBlackbox(target, surrogate, data, img, { seed: o.seed, patchSteps: o.quick ? 50 : 100, patchLimit: o.quick ? 300 : 500, onProgress: (s) => log(o, s) });
      rows.push(row);
      // a long run reports each finished dataset at once, so a later failure does not lose it
      log(o, `finlayson --blackbox: ${row.dataset}: ${JSON.stringify({ clean: row.cleanAccuracy, transfer: row.transfer.map((t) => [t.eps, t.robustAccuracy, t.whiteboxRobustAccuracy]), patches: row.patches.map((p) => [p.mode, p.scale, p.patchedAccuracy]) })}`);
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const file = o.report ?? 'replicate-finlayson-blackbox.html';
  const report: ReplicationReport = {
    paper: 'finlayson', title: 'Replication: Finlayson et al., "Adversarial attacks on medical machine learning" (Science 2019) — black box and patches',
    headline: 'transfer attacks from an independently trained model and adversarial patches fool medical classifiers; natural patches do not', rows: [], blackbox: rows,
    command: ['medshield', ...process.argv.slice(2)].join(' '), seconds, quick: !!o.quick, notes: [`engine: ${backend}`],
  };
  await writeReplication(file, report);
  if (o.json) return printJson({ paper: 'finlayson', blackbox: rows, seconds: Math.round(seconds), report: file });
  const f = (v: number | null | undefined): string => (v === null || v === undefined ? '—' : v.toFixed(4));
  for (const r of rows) {
    process.stdout.write(`${r.dataset} (${r.domain ?? 'no paper domain'}): target ${r.target} clean ${f(r.cleanAccuracy)}, surrogate ${r.surrogate} clean ${f(r.surrogateCleanAccuracy)}, n=${r.n}\n`);
    for (const t of r.transfer) process.stdout.write(`  ε=${t.eps}: transfer PGD robust ${f(t.robustAccuracy)} (success ${f(t.attackSuccessRate)}) | white-box PGD robust ${f(t.whiteboxRobustAccuracy)}\n`);
    for (const p of r.patches) process.stdout.write(`  patch ${p.mode} scale ${p.scale}: accuracy ${f(p.patchedAccuracy)} (clean ${f(p.cleanAccuracy)}, success ${f(p.attackSuccessRate)})${r.paper ? `   paper: ${r.paper[p.mode as 'whitebox']}` : ''}\n`);
  }
  process.stdout.write(`report: ${file} (${seconds.toFixed(0)} s)\n`);
}
