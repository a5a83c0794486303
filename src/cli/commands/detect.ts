/**
 * `medshield detect`: fit adversarial-example detectors (kd_bu, lid, mahalanobis, deepfeature_rf,
 * squeeze, magnet) on train-split images attacked with --train-attack, and report AUC, TPR at 5 % FPR
 * and the threshold per test attack and ε, under Ma et al.'s protocol (src/api/detect.ts).
 * `--early-stop` restores the per-image stop at the first success, `--no-random-start` drops PGD's
 * random start. `--save DIR` stores the fitted detector(s) for the gateway (DIR, or DIR/<detector>@<ε>
 * when several). `--report FILE.html` adds Ma's separability plots (`projection` in the JSON).
 */
import { Option, type Command } from 'commander';
import { action, parseIntArg, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import { addImageSetOptions, DATASET_HELP, type DataCli } from '../data-options.js';
import { checkDetectSpec, detect, formatDetect, DETECTOR_NAMES, type DetectSpec } from '../../api/detect.js';
import { commaList } from '../../api/common-b.js';
import { activity, note } from '../progress.js';

interface DetectCli extends CommonOptions, DataCli {
  model: string;
  detector: string;
  trainAttack: string;
  testAttacks: string;
  eps: string;
  fitLimit: number;
  fitSplit: 'train' | 'val';
  limit: number;
  earlyStop?: boolean;
  randomStart: boolean;
  save?: string;
  report?: string;
}

export default function register(program: Command): void {
  addImageSetOptions(
    withCommon(
      program
        .command('detect')
        .description(
          'fit adversarial-example detectors and report detection AUC, TPR ' +
            'at 5 % FPR and threshold per attack and ε (Ma et al. protocol)',
        ),
    )
      .option('--model <dir>', "model directory, or 'default' for the shipped model", 'default')
      .option('--dataset <name|path|dir|csv>', DATASET_HELP)
      .requiredOption('--detector <names>', `detector(s), comma-separated: ${DETECTOR_NAMES.join(', ')}`)
      .option('--train-attack <name>', 'attack whose successful examples the detector is fitted on', 'pgd')
      .option('--test-attacks <list>', 'attacks to test on (comma-separated)', 'fgsm,bim,pgd,cw,deepfool')
      .requiredOption('--eps <list>', 'L∞ budget(s), e.g. 2/255,8/255 (one detector fitted per ε)')
      .option(
        '--fit-limit <n>',
        'images of the fit split attacked for fitting',
        parseIntArg('--fit-limit', 2, 1e7),
        300,
      )
      .addOption(
        new Option(
          '--fit-split <split>',
          "split the fit pairs come from: 'train', or 'val' (held out from the model's training like " +
            'the test films; KD and Mahalanobis then estimate their densities on 1000 training images)',
        )
          .choices(['train', 'val'])
          .default('train'),
      )
      .option('--limit <n>', 'test-split images attacked for testing', parseIntArg('--limit', 1, 1e7), 300)
      .option(
        '--early-stop',
        "stop each image's attack at its first success (the former protocol; default: full iterations, " +
          'as Ma et al. — early-stopped examples sit at the boundary and look like noise at large ε)',
      )
      .option('--no-random-start', 'start PGD at the clean image instead of a random point of the ε ball')
      .option('--save <dir>', 'save the fitted detector(s) (JSON) for the gateway')
      .option(
        '--report <file.html>',
        'write a self-contained HTML report: results, generalisation heatmap, ROC curves, ' +
          '2-D PCA of deep features (clean vs adversarial); adds `projection` to the JSON',
      )
      .option('--data-dir <dir>', 'dataset cache directory (env MEDSHIELD_DATA)'),
  ).action(
    action(async (o: DetectCli) => {
      const spec: DetectSpec = {
        model: o.model,
        detectors: commaList(o.detector),
        trainAttack: o.trainAttack,
        testAttacks: commaList(o.testAttacks),
        eps: o.eps,
        data: {
          dataset: o.dataset,
          limit: o.limit,
          dataDir: o.dataDir,
          splitRatios: o.splitRatios,
          splitSeed: o.splitSeed,
          skipBad: o.skipBad,
        },
        fitLimit: o.fitLimit,
        fitSplit: o.fitSplit,
        earlyStop: !!o.earlyStop,
        randomStart: o.randomStart,
        seed: o.seed,
        save: o.save,
        report: o.report,
        command: ['medshield', ...process.argv.slice(2)].join(' '),
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
