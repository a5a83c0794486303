/**
 * `medshield defend`: clean and robust accuracy of input-transform defences (JPEG, bit depth, median,
 * blur, random resize-and-pad, …) under white-box attacks, beside the undefended model (defence "none").
 * Non-adaptive protocol: the adversarial images are crafted on the undefended model, then classified by
 * each defended model (src/eval/defences.ts). `--defence` is repeatable, and one value may hold
 * several defences separated by ';' (or ',' before a name): `--defence jpeg:q=75 --defence median:k=3`,
 * `--defence 'bitdepth:bits=4;blur:sigma=1'`; '+' chains transforms: `bitdepth:bits=4+median:k=3`.
 *
 *   medshield defend --model default --defence jpeg:q=75 --defence bitdepth:bits=4 --attacks fgsm,pgd --eps 2/255,8/255
 *   --limit 200 --json
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { action, parseIntArg, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import type { SplitName } from '../../api/common.js';
import { addImageSetOptions, DATASET_HELP, type DataCli } from '../data-options.js';
import type { Norm } from '../../api/common.js';
import { defend, defendText, DEFENCE_NAMES } from '../../api/defend.js';
import { progress, note } from '../progress.js';

interface DefendCli extends CommonOptions, DataCli {
  model: string;
  split: SplitName;
  limit?: number;
  defence: string[];
  attacks: string;
  eps: string;
  steps?: number;
  norm?: Norm;
  batchSize: number;
}

export default function register(program: Command): void {
  addImageSetOptions(
    withCommon(
      program
        .command('defend')
        .description(
          'clean and robust accuracy of input-transform defences under ' +
            'white-box attacks crafted on the undefended model (non-adaptive)',
        ),
    )
      .option('--model <dir>', "model directory, or 'default' for the shipped model", 'default')
      .option('--dataset <name|path|dir|csv>', DATASET_HELP)
      .addOption(new Option('--split <name>', 'split').choices(['train', 'val', 'test']).default('test'))
      .option('--limit <n>', 'evaluate a seeded sample of N images', parseIntArg('--limit', 1, 1e9))
      .option(
        '--defence <spec>',
        `defence (repeatable): ${DEFENCE_NAMES().join(', ')} with parameters, e.g. jpeg:q=75, ` +
          `bitdepth:bits=4, median:k=3, blur:sigma=1, resizepad:max=1.15; ` +
          `';' separates several in one value, '+' chains transforms`,
        (v: string, prev: string[] = []) => [...prev, v],
      )
      .option('--attacks <list>', 'white-box attacks, comma-separated (fgsm, bim, pgd, cw, deepfool, …)', 'fgsm,pgd')
      .requiredOption('--eps <list>', 'perturbation budget(s): 2/255 or 0.0078, comma-separated')
      .option(
        '--steps <n>',
        "iterations of iterative attacks (default: each attack's own)",
        parseIntArg('--steps', 1, 1e6),
      )
      .addOption(
        new Option('--norm <norm>', 'norm of the ε ball (default: L∞ where the attack supports it)').choices([
          'linf',
          'l2',
          'l1',
          'l0',
        ]),
      )
      .option('--batch-size <n>', 'images per attack batch', parseIntArg('--batch-size', 1, 65536), 128)
      .option('--data-dir <dir>', 'dataset cache directory (env MEDSHIELD_DATA)'),
  ).action(
    action(async (o: DefendCli) => {
      await startEngine(o);
      const r = await defend(
        {
          model: o.model,
          defences: o.defence ?? [],
          attacks: o.attacks,
          eps: o.eps,
          steps: o.steps,
          norm: o.norm,
          batchSize: o.batchSize,
          seed: o.seed,
          data: {
            dataset: o.dataset,
            split: o.split,
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
      process.stdout.write(defendText(r));
    }),
  );
}
