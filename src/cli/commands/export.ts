/**
 * `medshield export --model DIR|default --format onnx --out DIR [--json]`: write the model as ONNX
 * (model.onnx + model-card.json) and check it: `--check N` real test images of the model's own
 * dataset (default 64) go through tfjs and onnxruntime-node, and the largest probability
 * difference is printed as `maxAbsDiff`.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { action, parseIntArg, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import { exportModel } from '../../api/export.js';

interface ExportCli extends CommonOptions {
  model?: string;
  format: string;
  out?: string;
  check: number;
  dataset?: string;
  dataDir?: string;
}

export default function register(program: Command): void {
  withCommon(program.command('export').description('export a model to ONNX (opset 13) and check it against tfjs'))
    .option('--model <dir>', "model directory, or 'default' for the shipped model", 'default')
    .addOption(new Option('--format <name>', 'output format').choices(['onnx']).default('onnx'))
    .option('--out <dir>', 'output directory (model.onnx + model-card.json) or FILE.onnx')
    .option(
      '--check <n>',
      'test images run through both engines to measure maxAbsDiff (0 skips)',
      parseIntArg('--check', 0, 100000),
      64,
    )
    .option('--dataset <name|path>', "dataset for the check (default: the model's own)")
    .option('--data-dir <dir>', 'dataset cache directory (env MEDSHIELD_DATA)')
    .action(
      action(async (o: ExportCli) => {
        await startEngine(o);
        const r = await exportModel({
          model: o.model ?? 'default',
          out: o.out ?? '',
          format: 'onnx',
          check: o.check,
          dataset: o.dataset,
          dataDir: o.dataDir,
          seed: o.seed,
        });
        if (o.json) return printJson({ out: r.out, format: r.format, opset: r.opset, maxAbsDiff: r.maxAbsDiff });
        const checked =
          r.maxAbsDiff === null
            ? ''
            : `; max |Δp| vs tfjs on ${r.checked} test images: ${r.maxAbsDiff.toExponential(2)}`;
        process.stdout.write(`exported ${r.name} to ${r.file} (ONNX opset ${r.opset})${checked}\n`);
      }),
    );
}
