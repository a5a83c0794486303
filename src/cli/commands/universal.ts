/**
 * `medshield universal`: one universal adversarial perturbation (Moosavi-Dezfooli et al., CVPR 2017)
 * fitted on a seeded sample of the training split, and its fooling rate there and on held-out test images.
 * The work is the library's `universal` verb (src/api/universal.ts).
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { action, parseFloatArg, parseIntArg, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import { addImageSetOptions, DATASET_HELP, type DataCli } from '../data-options.js';
import { universal } from '../../api/universal.js';
import { progress, note } from '../progress.js';

interface UniversalCli extends CommonOptions, DataCli {
  model: string;
  eps: string;
  norm: 'linf' | 'l2';
  method: 'pgd' | 'deepfool';
  fitLimit: number;
  limit?: number;
  maxIter: number;
  foolingRate: number;
  save?: string;
}

export default function register(program: Command): void {
  addImageSetOptions(
    withCommon(
      program
        .command('universal')
        .description(
          'universal adversarial perturbation (Moosavi-Dezfooli et al. ' +
            '2017): one δ for the whole set, fooling rate on held-out images',
        ),
    )
      .option('--model <dir>', "model directory, or 'default' for the shipped model", 'default')
      .option('--dataset <name|path|dir|csv>', DATASET_HELP)
      .requiredOption('--eps <ε>', 'radius of the ε ball: 8/255 or 0.0314 (L∞), Euclidean length (L2)')
      .addOption(new Option('--norm <norm>', 'norm of the ε ball').choices(['linf', 'l2']).default('linf'))
      .addOption(
        new Option(
          '--method <name>',
          'per-minibatch projected gradient steps (Shafahi et al. ' +
            "2020) or per-image DeepFool steps (the paper's Algorithm 1)",
        )
          .choices(['pgd', 'deepfool'])
          .default('pgd'),
      )
      .option(
        '--fit-limit <n>',
        'fit δ on a seeded sample of N training images',
        parseIntArg('--fit-limit', 1, 1e9),
        200,
      )
      .option(
        '--limit <n>',
        'hold-out: a seeded sample of N test images (default: all)',
        parseIntArg('--limit', 1, 1e9),
      )
      .option('--max-iter <n>', 'passes over the fit images', parseIntArg('--max-iter', 1, 1000), 10)
      .option(
        '--fooling-rate <x>',
        'stop once this fraction of the fit images is fooled (1 − ξ)',
        parseFloatArg('--fooling-rate', 0.01, 1),
        0.8,
      )
      .option('--save <file.png>', 'write δ as PNG (mid-grey = 0, amplified to the full grey range)')
      .option('--data-dir <dir>', 'dataset cache directory (env MEDSHIELD_DATA)'),
  ).action(
    action(async (o: UniversalCli) => {
      await startEngine(o);
      const r = await universal(
        {
          model: o.model,
          eps: o.eps,
          norm: o.norm,
          method: o.method,
          fitLimit: o.fitLimit,
          maxIter: o.maxIter,
          foolingRate: o.foolingRate,
          save: o.save,
          seed: o.seed,
          data: {
            dataset: o.dataset,
            limit: o.limit,
            dataDir: o.dataDir,
            splitRatios: o.splitRatios,
            splitSeed: o.splitSeed,
            skipBad: o.skipBad,
          },
        },
        { progress, onNote: note },
      );
      if (o.json) return printJson(r.json);
      process.stdout.write(
        `${r.model} on ${r.dataset}: universal ${o.norm} δ (${o.method}), ε=${o.eps}, ${r.passes} pass(es)\n` +
          `  fooling rate: fit ${r.fit.foolingRate.toFixed(4)} (n=${r.fit.n}, train), ` +
          `hold-out ${r.holdout.foolingRate.toFixed(4)} (n=${r.holdout.n}, test)\n` +
          (o.save ? `  δ: ${o.save}\n` : ''),
      );
    }),
  );
}
