/**
 * `medshield scorecard`: every defence and detector against the non-adaptive and the adaptive
 * attacker, with sanity checks and a verdict per row (src/api/scorecard.ts); JSON and HTML.
 *
 *   medshield scorecard --model default --dataset pneumoniamnist --defences all --eps 8/255 --quick --json --report
 *   scorecard.html
 */
import type { Command } from 'commander';
import { action, commandLine, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import { addFlags, pick } from '../flags.js';
import * as D from '../data-options.js';
import { scorecardProgress } from '../scorecard-progress.js';
import {
  scorecard,
  checkScorecardSpec,
  formatScorecard,
  ALL_DEFENCES,
  type ScorecardSpec,
} from '../../api/scorecard.js';

interface ScorecardCli extends CommonOptions, D.DataCli {
  quick?: boolean;
  report?: string;
  out?: string;
}

const FLAGS = {
  '--defences <list>; default all':
    `all, or a list of: ${ALL_DEFENCES.join(', ')} (defence ` +
    "specs take parameters, e.g. jpeg:q=50; separate with ';')",
  '--eps <eps>; default 8/255': 'L∞ budget, e.g. 2/255 or 8/255',
  '--quick': '64 test images, 20 adaptive steps, 4 EOT draws, sanity checks on 32 images (default: 300, 50, 8, 100)',
  '--limit <n>; int 2..1e7': 'test-split images evaluated',
  '--fit-limit <n>; int 10..1e7': 'train-split images the detectors are fitted on',
  '--steps <n>; int 1..1e5': 'adaptive-attack iterations',
  '--eot-samples <n>; int 1..1000': 'EOT draws per gradient for randomized defences',
  '--adv-model <dir>':
    'adversarially trained model for the adversarial-training row ' +
    "(default: the shipped 'adv-cnn' when it matches the dataset)",
  '--noise-model <dir>':
    "noise-trained model for the smoothing row (default: the shipped 'noise-cnn' when it matches the dataset)",
  '--report <file.html>': 'write a self-contained HTML report',
  '--out <file.json>': 'also write the JSON scorecard to a file',
};

export default function register(program: Command): void {
  const about =
    'every defence and detector against the non-adaptive and the adaptive (informed) attacker, ' +
    'with sanity checks and a verdict';
  const cmd = withCommon(program.command('scorecard').description(about));
  addFlags(cmd, D.MODEL_DATA_FLAGS, FLAGS, D.DATA_DIR_FLAG, D.IMAGE_SET_FLAGS).action(
    action(async (o: ScorecardCli) => {
      const spec: ScorecardSpec = {
        ...pick<ScorecardSpec>(o, 'model defences eps'),
        quick: !!o.quick,
        ...pick(o, 'fitLimit steps eotSamples'),
        data: D.dataRef(o),
        ...pick(o, 'advModel noiseModel seed report out'),
        command: commandLine(),
      };
      checkScorecardSpec(spec);
      await startEngine(o);
      const hooks = scorecardProgress(!!o.quick);
      const card = await scorecard(spec, hooks).finally(hooks.stop);
      if (o.json) return printJson(card);
      process.stdout.write(formatScorecard(card));
      if (o.report) process.stdout.write(`report: ${o.report}\n`);
      if (o.out) process.stdout.write(`json: ${o.out}\n`);
    }),
  );
}
