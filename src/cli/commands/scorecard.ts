/**
 * `medshield scorecard`: every defence and detector against the non-adaptive and the adaptive
 * attacker, with sanity checks and a verdict per row (src/api/scorecard.ts); JSON and HTML.
 *
 *   medshield scorecard --model default --dataset pneumoniamnist --defences all --eps 8/255 --quick --json --report
 *   scorecard.html
 */
import type { Command } from 'commander';
import { action, parseIntArg, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import { addImageSetOptions, DATASET_HELP, type DataCli } from '../data-options.js';
import {
  scorecard,
  checkScorecardSpec,
  formatScorecard,
  formatScorecardPlan,
  formatScorecardRow,
  ALL_DEFENCES,
  type ScorecardSpec,
} from '../../api/scorecard.js';
import { formatDuration } from '../../api/common-b.js';
import { progress, note, type Progress } from '../progress.js';

interface ScorecardCli extends CommonOptions, DataCli {
  model: string;
  defences: string;
  eps: string;
  quick?: boolean;
  limit?: number;
  fitLimit?: number;
  steps?: number;
  eotSamples?: number;
  advModel?: string;
  noiseModel?: string;
  report?: string;
  out?: string;
}

export default function register(program: Command): void {
  addImageSetOptions(
    withCommon(
      program
        .command('scorecard')
        .description(
          'every defence and detector against the non-adaptive and the ' +
            'adaptive (informed) attacker, with sanity checks and a verdict',
        ),
    )
      .option('--model <dir>', "model directory, or 'default' for the shipped model", 'default')
      .option('--dataset <name|path|dir|csv>', DATASET_HELP)
      .option(
        '--defences <list>',
        `all, or a list of: ${ALL_DEFENCES.join(', ')} (defence ` +
          `specs take parameters, e.g. jpeg:q=50; separate with ';')`,
        'all',
      )
      .option('--eps <eps>', 'L∞ budget, e.g. 2/255 or 8/255', '8/255')
      .option(
        '--quick',
        '64 test images, 20 adaptive steps, 4 EOT draws, sanity checks on 32 images (default: 300, 50, 8, 100)',
      )
      .option('--limit <n>', 'test-split images evaluated', parseIntArg('--limit', 2, 1e7))
      .option('--fit-limit <n>', 'train-split images the detectors are fitted on', parseIntArg('--fit-limit', 10, 1e7))
      .option('--steps <n>', 'adaptive-attack iterations', parseIntArg('--steps', 1, 1e5))
      .option(
        '--eot-samples <n>',
        'EOT draws per gradient for randomized defences',
        parseIntArg('--eot-samples', 1, 1000),
      )
      .option(
        '--adv-model <dir>',
        'adversarially trained model for the adversarial-training row ' +
          "(default: the shipped 'adv-cnn' when it matches the dataset)",
      )
      .option(
        '--noise-model <dir>',
        "noise-trained model for the smoothing row (default: the shipped 'noise-cnn' when it matches the dataset)",
      )
      .option('--report <file.html>', 'write a self-contained HTML report')
      .option('--out <file.json>', 'also write the JSON scorecard to a file')
      .option('--data-dir <dir>', 'dataset cache directory (env MEDSHIELD_DATA)'),
  ).action(
    action(async (o: ScorecardCli) => {
      const spec: ScorecardSpec = {
        model: o.model,
        defences: o.defences,
        eps: o.eps,
        quick: !!o.quick,
        fitLimit: o.fitLimit,
        steps: o.steps,
        eotSamples: o.eotSamples,
        data: {
          dataset: o.dataset,
          limit: o.limit,
          dataDir: o.dataDir,
          splitRatios: o.splitRatios,
          splitSeed: o.splitSeed,
          skipBad: o.skipBad,
        },
        advModel: o.advModel,
        noiseModel: o.noiseModel,
        seed: o.seed,
        report: o.report,
        out: o.out,
        command: `medshield ${process.argv.slice(2).join(' ')}`,
      };
      checkScorecardSpec(spec);
      await startEngine(o);
      let bar: Progress | null = null;
      let t0 = 0;
      let estimatedDone = 0;
      let estimatedTotal = 0;
      const eta = (): string => {
        const spent = (Date.now() - t0) / 1000;
        // scale what is left by how the estimate has fared so far
        const f = estimatedDone > 0 ? spent / estimatedDone : 1;
        return formatDuration(Math.max(0, (estimatedTotal - estimatedDone) * f));
      };
      let card;
      try {
        card = await scorecard(spec, {
          onNote: note,
          onPlan: (plan, backend, n) => {
            for (const line of formatScorecardPlan(plan, backend, n, !!o.quick)) note(line);
            bar = progress('scorecard', plan.rows.length);
            t0 = Date.now();
            estimatedTotal = plan.estimatedSeconds;
          },
          onProgress: (what, done) => bar?.update(done, { at: what.slice(0, 60) }),
          onStage: (stage, est) => {
            estimatedDone += est ?? 0;
            bar?.log(`${stage} (~${formatDuration(est ?? 0)}) …`);
          },
          onRow: (r) => {
            estimatedDone += r.estimatedSeconds ?? 0;
            bar?.log(formatScorecardRow(r, eta()));
          },
        });
      } finally {
        (bar as Progress | null)?.stop();
      }
      if (o.json) return printJson(card);
      process.stdout.write(formatScorecard(card));
      if (o.report) process.stdout.write(`report: ${o.report}\n`);
      if (o.out) process.stdout.write(`json: ${o.out}\n`);
    }),
  );
}
