/**
 * `medshield detect`: fit adversarial-example detectors (kd_bu, lid, mahalanobis, deepfeature_rf,
 * squeeze, magnet) on train-split images attacked with --train-attack, and report AUC, TPR at 5 % FPR
 * and the threshold per test attack and ε, under Ma et al.'s protocol (src/eval/detection.ts).
 * The attacks run their full iterations (no early stop, as Ma et al.); `--early-stop` restores the
 * former per-image stop at the first success, `--no-random-start` drops PGD's random start (both for
 * the experiments in docs/defences.md).
 * `--save DIR` stores the fitted detector(s) for the gateway (DIR, or DIR/<detector>@<ε> when several).
 * `--report FILE.html` adds Ma's separability plots: per ε, the penultimate features of the train
 * attack's fit pairs projected to 2-D by PCA; the JSON then carries them as `projection` (one per ε).
 */
import { Option, type Command } from 'commander';
import path from 'node:path';
import { action, parseIntArg, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import { addImageSetOptions, DATASET_HELP, loadDataFor, withImageSet, type DataCli } from '../data-options.js';
import { loadDifferentiableModel } from '../../models/onnx.js';
import { getAttack } from '../../attacks/registry.js';
import { parseEpsilonList, checkEpsilon } from '../../attacks/epsilon.js';
import { selectImages } from '../../eval/images.js';
import { evaluateDetection, type DetectionReport } from '../../eval/detection.js';
import { createDetector, DETECTOR_NAMES, saveDetector } from '../../detectors/registry.js';
import { badArgument } from '../../errors.js';
import { activity } from '../progress.js';

interface DetectCli extends CommonOptions, DataCli {
  model: string; detector: string; trainAttack: string; testAttacks: string; eps: string;
  fitLimit: number; fitSplit: 'train' | 'val'; limit: number; earlyStop?: boolean; randomStart: boolean; save?: string; report?: string;
}

/** Training images for the density models of KD and Mahalanobis when the fit pairs come from val. */
const REFERENCE_IMAGES = 1000;

const list = (s: string): string[] => s.split(',').map((t) => t.trim()).filter(Boolean);

export default function register(program: Command): void {
  addImageSetOptions(withCommon(program.command('detect').description('fit adversarial-example detectors and report detection AUC, TPR at 5 % FPR and threshold per attack and ε (Ma et al. protocol)'))
    .option('--model <dir>', "model directory, or 'default' for the shipped model", 'default')
    .option('--dataset <name|path|dir|csv>', DATASET_HELP)
    .requiredOption('--detector <names>', `detector(s), comma-separated: ${DETECTOR_NAMES.join(', ')}`)
    .option('--train-attack <name>', 'attack whose successful examples the detector is fitted on', 'pgd')
    .option('--test-attacks <list>', 'attacks to test on (comma-separated)', 'fgsm,bim,pgd,cw,deepfool')
    .requiredOption('--eps <list>', 'L∞ budget(s), e.g. 2/255,8/255 (one detector fitted per ε)')
    .option('--fit-limit <n>', 'images of the fit split attacked for fitting', parseIntArg('--fit-limit', 2, 1e7), 300)
    .addOption(new Option('--fit-split <split>', "split the fit pairs come from: 'train', or 'val' (held out from the model's training like the test films; KD and Mahalanobis then estimate their densities on 1000 training images)").choices(['train', 'val']).default('train'))
    .option('--limit <n>', 'test-split images attacked for testing', parseIntArg('--limit', 1, 1e7), 300)
    .option('--early-stop', 'stop each image\'s attack at its first success (the former protocol; default: full iterations, as Ma et al. — early-stopped examples sit at the boundary and look like noise at large ε)')
    .option('--no-random-start', 'start PGD at the clean image instead of a random point of the ε ball')
    .option('--save <dir>', 'save the fitted detector(s) (JSON) for the gateway')
    .option('--report <file.html>', 'write a self-contained HTML report: results, generalisation heatmap, ROC curves, 2-D PCA of deep features (clean vs adversarial); adds `projection` to the JSON')
    .option('--data-dir <dir>', 'dataset cache directory (env MEDSHIELD_DATA)'))
    .action(action(async (o: DetectCli) => {
      const names = list(o.detector);
      if (!names.length) throw badArgument('--detector needs at least one name');
      for (const n of names) createDetector(n);
      const trainAttack = getAttack(o.trainAttack);
      const testAttacks = list(o.testAttacks).map(getAttack);
      for (const a of [trainAttack, ...testAttacks]) if (a.threatModel !== 'whitebox') throw badArgument(`detect crafts examples with white-box attacks; '${a.name}' is a ${a.threatModel} attack`);
      const eps = parseEpsilonList(o.eps);
      await startEngine(o);
      const model = await loadDifferentiableModel(o.model);
      const data = await loadDataFor(o, model.card, { split: o.fitSplit === 'val' ? ['val', 'train', 'test'] : ['train', 'test'] });
      const te = data.splits.test;
      for (const e of eps) checkEpsilon(e.value, 'linf', te.height * te.width * te.channels, e.text);
      const several = names.length > 1 || eps.length > 1;
      const stages = activity('detect');
      const reports: DetectionReport[] = await evaluateDetection(model, {
        detectors: names, trainImages: selectImages(data.splits[o.fitSplit], o.fitLimit, o.seed), fitSplit: o.fitSplit,
        // fit pairs from val: the density models (KD, Mahalanobis) get training images, disjoint from them
        referenceImages: o.fitSplit === 'val' ? selectImages(data.splits.train, REFERENCE_IMAGES, o.seed) : undefined, testImages: selectImages(te, o.limit, o.seed),
        trainAttack, testAttacks, eps, seed: o.seed, projection: !!o.report,
        attackOptions: () => ({ earlyStop: !!o.earlyStop, ...(o.randomStart ? {} : { randomStart: false }) }),
        onFitted: (det, e) => { if (o.save) saveDetector(det, several ? path.join(o.save, `${det.name}@${e.text.replace(/\//g, '_')}`) : o.save); },
        onProgress: (what) => stages.stage(what),
      });
      stages.stop();
      if (o.report) {
        const { writeDetectionReport } = await import('../../report/detection.js');
        await writeDetectionReport(o.report, reports, { model: model.card.name, dataset: data.name, classes: data.info.classes, seed: o.seed, command: ['medshield', ...process.argv.slice(2)].join(' ') });
      }
      const out = reports.map(({ projection, ...r }) => ({ ...r, results: r.results.map(({ attack, eps: ev, n, auc, tprAt5Fpr, threshold, epsText, fitN }) => ({ attack, eps: ev, n, auc, tprAt5Fpr, threshold, epsText, fitN })), ...(projection ? { projection } : {}) }));
      if (o.json) { printJson(withImageSet(out.length === 1 ? out[0] : out, data)); return; }
      for (const r of out) {
        process.stdout.write(`${r.detector} (fitted on ${r.trainAttack}; ${r.protocol})\n`);
        for (const x of r.results) process.stdout.write(`  ${x.attack.padEnd(9)} ε=${x.epsText.padEnd(7)} n=${String(x.n).padEnd(5)} AUC=${x.auc ?? '–'}  TPR@5%FPR=${x.tprAt5Fpr ?? '–'}  threshold=${x.threshold ?? '–'}\n`);
      }
      if (o.report) process.stdout.write(`report: ${o.report}\n`);
    }));
}
