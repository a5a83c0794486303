import type { Command } from 'commander';
import { Option } from 'commander';
import { action, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import { limitSplit, type SplitName } from '../../data/dataset.js';
import { addImageSetOptions, DATASET_HELP, loadDataFor, withImageSet, type DataCli } from '../data-options.js';
import { loadDifferentiableModel } from '../../models/onnx.js';
import { evaluateSplit } from '../../models/train.js';
import { round } from '../../eval/metrics.js';
import { parseIntArg } from '../run.js';

interface EvalCli extends CommonOptions, DataCli { model?: string; split: SplitName; limit?: number }

export default function register(program: Command): void {
  addImageSetOptions(withCommon(program.command('eval').description('evaluate a model on a dataset split (MedMNIST ACC and AUC)'))
    .option('--model <dir>', "model directory, or 'default' for the shipped model", 'default')
    .option('--dataset <name|path|dir|csv>', DATASET_HELP)
    .addOption(new Option('--split <name>', 'split').choices(['train', 'val', 'test']).default('test'))
    .option('--limit <n>', 'evaluate only the first N images', parseIntArg('--limit', 1, 1e9))
    .option('--data-dir <dir>', 'dataset cache directory (env MEDSHIELD_DATA)'))
    .action(action(async (o: EvalCli) => {
      await startEngine(o);
      const model = await loadDifferentiableModel(o.model);
      const data = await loadDataFor(o, model.card, { split: o.split });
      const split = limitSplit(data.splits[o.split], o.limit);
      const r = await evaluateSplit(model, split);
      const out = { dataset: data.name, split: o.split, n: r.n, accuracy: round(r.accuracy), auc: round(r.auc) };
      if (o.json) return printJson(withImageSet(out, data));
      process.stdout.write(`${model.card.name} on ${data.name}/${o.split} (n=${r.n}): accuracy ${out.accuracy.toFixed(4)}, AUC ${out.auc.toFixed(4)}\n`);
    }));
}
