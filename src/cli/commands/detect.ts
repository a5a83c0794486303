/**
 * `medshield detect`: fit adversarial-example detectors (kd_bu, lid, mahalanobis, deepfeature_rf,
 * squeeze, magnet) on train-split images attacked with --train-attack, and report AUC, TPR at 5 % FPR
 * and the threshold per test attack and ε, under Ma et al.'s protocol (src/api/detect.ts).
 * `--early-stop` restores the per-image stop at the first success, `--no-random-start` drops PGD's
 * random start. `--save DIR` stores the fitted detector(s) for the gateway (DIR, or DIR/<detector>@<ε>
 * when several). `--report FILE.html` adds Ma's separability plots (`projection` in the JSON).
 */
import type { Command } from 'commander';
import { action, commandLine, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import { addFlags, pick } from '../flags.js';
import * as D from '../data-options.js';
import { checkDetectSpec, detect, formatDetect, DETECTOR_NAMES, type DetectSpec } from '../../api/detect.js';
import { commaList } from '../../api/common-b.js';
import { activity, note } from '../progress.js';

interface DetectCli extends CommonOptions, D.DataCli {
  detector: string;
  trainAttack: string;
  eps: string;
  testAttacks: string;
  earlyStop?: boolean;
}

const FLAGS = {
  '--detector <names>; required': `detector(s), comma-separated: ${DETECTOR_NAMES.join(', ')}`,
  '--train-attack <name>; default pgd': 'attack whose successful examples the detector is fitted on',
  '--test-attacks <list>; default fgsm,bim,pgd,cw,deepfool': 'attacks to test on (comma-separated)',
  '--eps <list>; required': 'L∞ budget(s), e.g. 2/255,8/255 (one detector fitted per ε)',
  '--fit-limit <n>; int 2..1e7; default 300': 'images of the fit split attacked for fitting',
  '--fit-split <split>; one of train|val; default train':
    "split the fit pairs come from: 'train', or 'val' (held out from the model's training like " +
    'the test films; KD and Mahalanobis then estimate their densities on 1000 training images)',
  '--limit <n>; int 1..1e7; default 300': 'test-split images attacked for testing',
  '--early-stop':
    "stop each image's attack at its first success (the former protocol; default: full iterations, " +
    'as Ma et al. — early-stopped examples sit at the boundary and look like noise at large ε)',
  '--no-random-start': 'start PGD at the clean image instead of a random point of the ε ball',
  '--save <dir>': 'save the fitted detector(s) (JSON) for the gateway',
  '--report <file.html>':
    'write a self-contained HTML report: results, generalisation heatmap, ROC curves, ' +
    '2-D PCA of deep features (clean vs adversarial); adds `projection` to the JSON',
};

export default function register(program: Command): void {
  const about =
    'fit adversarial-example detectors and report detection AUC, TPR ' +
    'at 5 % FPR and threshold per attack and ε (Ma et al. protocol)';
  const cmd = withCommon(program.command('detect').description(about));
  addFlags(cmd, D.MODEL_DATA_FLAGS, FLAGS, D.DATA_DIR_FLAG, D.IMAGE_SET_FLAGS).action(
    action(async (o: DetectCli) => {
      const spec: DetectSpec = {
        ...pick(o, 'model'),
        detectors: commaList(o.detector),
        trainAttack: o.trainAttack,
        testAttacks: commaList(o.testAttacks),
        eps: o.eps,
        data: D.dataRef(o),
        ...pick(o, 'fitLimit fitSplit'),
        earlyStop: !!o.earlyStop,
        ...pick(o, 'randomStart seed save report'),
        command: commandLine(),
      };
      checkDetectSpec(spec);
      await startEngine(o);
      const stages = activity('detect');
      const r = await detect(spec, { onStage: (what) => stages.stage(what), onNote: note });
      stages.stop();
      if (o.json) return printJson(r.reports.length === 1 ? r.reports[0] : r.reports);
      process.stdout.write(formatDetect(r));
    }),
  );
}
