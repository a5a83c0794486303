/**
 * `medshield patch`: adversarial patches (Brown et al. 2017) as Finlayson et al. ran them —
 * white-box (trained on the model), black-box (trained on a surrogate) and the natural-patch
 * control, over a scale sweep; accuracy with each patch on held-out test images.
 * The work is the library's `patch` verb (src/api/patch.ts).
 */
import type { Command } from 'commander';
import { action, parseIntArg, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import { addImageSetOptions, DATASET_HELP, type DataCli } from '../data-options.js';
import { patch, patchText, PATCH_MODES } from '../../api/patch.js';
import { progress, note } from '../progress.js';

interface PatchCli extends CommonOptions, DataCli {
  model: string;
  mode: string;
  scale: string;
  surrogate?: string;
  limit?: number;
  fitLimit: number;
  steps: number;
  batchSize: number;
  target?: string;
  savePatch?: string;
  saveExamples?: string;
  report?: string;
}

export default function register(program: Command): void {
  addImageSetOptions(
    withCommon(
      program
        .command('patch')
        .description(
          'adversarial patch (Brown et al. 2017), one per class (untargeted) or per target: ' +
            'white-box, black-box (surrogate) and natural-patch control over a scale sweep',
        ),
    )
      .option('--model <dir>', "model directory, or 'default' for the shipped model", 'default')
      .option('--dataset <name|path|dir|csv>', DATASET_HELP)
      .option('--mode <list>', `patch kinds, comma-separated: ${PATCH_MODES.join(', ')}`, 'whitebox,natural')
      .option('--scale <list>', 'patch area as a fraction of the image, comma-separated (e.g. 0.1,0.2,0.4)', '0.4')
      .option('--surrogate <dir>', 'independently trained model the black-box patch is crafted on')
      .option(
        '--limit <n>',
        'evaluate on a seeded sample of N test images (default: all)',
        parseIntArg('--limit', 1, 1e9),
      )
      .option(
        '--fit-limit <n>',
        'train the patch on a seeded sample of N training images',
        parseIntArg('--fit-limit', 1, 1e9),
        1000,
      )
      .option('--steps <n>', 'optimisation steps (batches of EOT samples)', parseIntArg('--steps', 1, 1e6), 250)
      .option('--batch-size <n>', 'images per optimisation step', parseIntArg('--batch-size', 1, 4096), 32)
      .option('--target <class>', "targeted patch: a class index, or 'other' on binary tasks (default untargeted)")
      .option(
        '--save-patch <file.png>',
        'write the patch as PNG (several patches: -<mode>-<scale>[-on-<class>|-to-<class>] is added to the name)',
      )
      .option('--save-examples <dir>', 'write a few original/patched PNGs per patch and an index.json')
      .option(
        '--report <file.html>',
        'write a self-contained HTML report (results, curve over scales, patches, examples)',
      )
      .option('--data-dir <dir>', 'dataset cache directory (env MEDSHIELD_DATA)'),
  ).action(
    action(async (o: PatchCli) => {
      await startEngine(o);
      const r = await patch(
        {
          model: o.model,
          modes: o.mode,
          scales: o.scale,
          surrogate: o.surrogate,
          fitLimit: o.fitLimit,
          steps: o.steps,
          batchSize: o.batchSize,
          target: o.target,
          seed: o.seed,
          save: { patch: o.savePatch, examples: o.saveExamples, report: o.report },
          data: {
            dataset: o.dataset,
            limit: o.limit,
            dataDir: o.dataDir,
            splitRatios: o.splitRatios,
            splitSeed: o.splitSeed,
            skipBad: o.skipBad,
          },
        },
        { progress, onNote: note, command: ['medshield', ...process.argv.slice(2)].join(' ') },
      );
      if (o.json) return printJson(r.json);
      process.stdout.write(patchText(r));
    }),
  );
}
