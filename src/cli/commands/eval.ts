/** `medshield eval`: a shell over the library's `evaluate` verb (src/api/evaluate.ts). */
import type { Command } from 'commander';
import { Option } from 'commander';
import { action, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import type { SplitName } from '../../api/common.js';
import { addImageSetOptions, DATASET_HELP, type DataCli } from '../data-options.js';
import { evaluate } from '../../api/evaluate.js';
import { note } from '../progress.js';
import { parseIntArg } from '../run.js';

interface EvalCli extends CommonOptions, DataCli {
  model?: string;
  split: SplitName;
  limit?: number;
}

export default function register(program: Command): void {
  addImageSetOptions(
    withCommon(program.command('eval').description('evaluate a model on a dataset split (MedMNIST ACC and AUC)'))
      .option('--model <dir>', "model directory, or 'default' for the shipped model", 'default')
      .option('--dataset <name|path|dir|csv>', DATASET_HELP)
      .addOption(new Option('--split <name>', 'split').choices(['train', 'val', 'test']).default('test'))
      .option('--limit <n>', 'evaluate only the first N images', parseIntArg('--limit', 1, 1e9))
      .option('--data-dir <dir>', 'dataset cache directory (env MEDSHIELD_DATA)'),
  ).action(
    action(async (o: EvalCli) => {
      await startEngine(o);
      const r = await evaluate(
        {
          model: o.model,
          data: {
            dataset: o.dataset,
            split: o.split,
            head: o.limit,
            dataDir: o.dataDir,
            splitRatios: o.splitRatios,
            splitSeed: o.splitSeed,
            skipBad: o.skipBad,
          },
        },
        { onNote: note },
      );
      if (o.json) return printJson(r.json);
      process.stdout.write(
        `${r.model} on ${r.dataset}/${r.split} (n=${r.n}): accuracy ` +
          `${r.accuracy.toFixed(4)}, AUC ${r.auc.toFixed(4)}\n`,
      );
    }),
  );
}
