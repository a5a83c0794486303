import type { Command } from 'commander';
import { Option } from 'commander';
import { action, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import { loadDataset, limitSplit, type SplitName } from '../../data/dataset.js';
import { loadDifferentiableModel } from '../../models/onnx.js';
import { checkInputMatches } from '../../models/card.js';
import { evaluateSplit } from '../../models/train.js';
import { round } from '../../eval/metrics.js';
import { parseIntArg } from '../run.js';

interface EvalCli extends CommonOptions { model?: string; dataset?: string; split: SplitName; limit?: number; dataDir?: string }

export default function register(program: Command): void {
  withCommon(program.command('eval').description('evaluate a model on a dataset split (MedMNIST ACC and AUC)'))
    .option('--model <dir>', "model directory, or 'default' for the shipped model", 'default')
    .option('--dataset <name|path>', "MedMNIST name or .npz path (default: the model's own dataset)")
    .addOption(new Option('--split <name>', 'split').choices(['train', 'val', 'test']).default('test'))
    .option('--limit <n>', 'evaluate only the first N images', parseIntArg('--limit', 1, 1e9))
    .option('--data-dir <dir>', 'dataset cache directory (env MEDSHIELD_DATA)')
    .action(action(async (o: EvalCli) => {
      await startEngine(o);
      const model = await loadDifferentiableModel(o.model);
      const data = await loadDataset(o.dataset ?? model.card.dataset.name, { dataDir: o.dataDir });
      const split = limitSplit(data.splits[o.split], o.limit);
      checkInputMatches(model.card, { height: split.height, width: split.width, channels: split.channels, classes: data.info.classes.length, task: data.info.task, name: data.name });
      const r = await evaluateSplit(model, split);
      const out = { dataset: data.name, split: o.split, n: r.n, accuracy: round(r.accuracy), auc: round(r.auc) };
      if (o.json) return printJson(out);
      process.stdout.write(`${model.card.name} on ${data.name}/${o.split} (n=${r.n}): accuracy ${out.accuracy.toFixed(4)}, AUC ${out.auc.toFixed(4)}\n`);
    }));
}
