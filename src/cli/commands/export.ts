/**
 * `medshield export --model DIR|default --format onnx --out DIR [--json]`: write the model as ONNX
 * (model.onnx + model-card.json) and check it: `--check N` real test images of the model's own
 * dataset (default 64) go through tfjs and onnxruntime-node, and the largest probability
 * difference is printed as `maxAbsDiff`.
 */
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Option } from 'commander';
import { action, parseIntArg, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import { loadClassifier, loadModel, resolveModelPath } from '../../models/io.js';
import { exportOnnx, maxAbsDiff, OPSET } from '../../models/onnx-export.js';
import { loadDataset } from '../../data/dataset.js';
import { selectImages } from '../../eval/images.js';
import { checkInputMatches } from '../../models/card.js';
import { badArgument, badInput } from '../../errors.js';

interface ExportCli extends CommonOptions { model?: string; format: string; out?: string; check: number; dataset?: string; dataDir?: string }

export default function register(program: Command): void {
  withCommon(program.command('export').description('export a model to ONNX (opset 13) and check it against tfjs'))
    .option('--model <dir>', "model directory, or 'default' for the shipped model", 'default')
    .addOption(new Option('--format <name>', 'output format').choices(['onnx']).default('onnx'))
    .option('--out <dir>', 'output directory (model.onnx + model-card.json) or FILE.onnx')
    .option('--check <n>', 'test images run through both engines to measure maxAbsDiff (0 skips)', parseIntArg('--check', 0, 100000), 64)
    .option('--dataset <name|path>', "dataset for the check (default: the model's own)")
    .option('--data-dir <dir>', 'dataset cache directory (env MEDSHIELD_DATA)')
    .action(action(async (o: ExportCli) => {
      if (!o.out) throw badArgument('give --out DIR (or --out FILE.onnx)');
      const src = resolveModelPath(o.model);
      if (src.toLowerCase().endsWith('.onnx') || (existsSync(path.join(src, 'model.onnx')) && !existsSync(path.join(src, 'model.json')))) {
        throw badInput(`model '${o.model}' is already ONNX; export needs a medshield (tfjs) model directory`);
      }
      if (path.resolve(src) === path.resolve(o.out)) throw badArgument('--out must differ from --model');
      await startEngine(o);
      const model = await loadClassifier(o.model);
      const file = await exportOnnx(model, o.out);
      let diff: number | null = null;
      if (o.check > 0) {
        const data = await loadDataset(o.dataset ?? model.card.dataset.name, { dataDir: o.dataDir });
        const split = data.splits.test;
        checkInputMatches(model.card, { height: split.height, width: split.width, channels: split.channels, classes: data.info.classes.length, name: data.name });
        const imgs = selectImages(split, o.check, o.seed);
        const onnx = await loadModel(o.out);
        diff = maxAbsDiff(await model.predictProbs(imgs.x, imgs.n), await onnx.predictProbs(imgs.x, imgs.n));
      }
      const out = { out: o.out, format: o.format, opset: OPSET, maxAbsDiff: diff };
      if (o.json) return printJson(out);
      process.stdout.write(`exported ${model.card.name} to ${file} (ONNX opset ${OPSET})${diff === null ? '' : `; max |Δp| vs tfjs on ${o.check} test images: ${diff.toExponential(2)}`}\n`);
    }));
}
