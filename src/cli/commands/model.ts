/**
 * `medshield model import FILE.onnx --out DIR …`: import an ONNX classifier as a differentiable
 * medshield model directory (src/models/onnx-import.ts does the work; docs/your-model.md).
 */
import { Option, type Command } from 'commander';
import { action, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import { badArgument } from '../../api/common-b.js';
import { importModel, type ImportModelSpec } from '../../api/model.js';

interface ImportCli extends CommonOptions {
  out: string;
  classes?: string;
  task?: ImportModelSpec['task'];
  input?: string;
  layout?: 'nchw' | 'nhwc';
  mean?: string;
  std?: string;
  range?: string;
  output?: 'logits' | 'probs';
  dataset?: string;
  split?: ImportModelSpec['split'];
  featureLayers?: string;
  name?: string;
  dataDir?: string;
}

function numbers(flag: string, v: string | undefined): number[] | undefined {
  if (v === undefined) return undefined;
  const xs = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  if (!xs.length || xs.some((x) => !Number.isFinite(x)))
    throw badArgument(`${flag} '${v}' is not a comma-separated list of numbers`);
  return xs;
}

export default function register(program: Command): void {
  const model = program.command('model').description('manage models brought from elsewhere');
  withCommon(
    model
      .command('import')
      .description(
        'import an ONNX classifier as a differentiable model ' +
          'directory (white-box attacks, detectors, defences, scorecard)',
      )
      .argument('<file.onnx>', 'ONNX model file'),
  )
    .requiredOption('--out <dir>', 'model directory to write (model.onnx + model-card.json)')
    .option('--classes <a,b,…>', "class names, in output order (default: the dataset's, else numbered)")
    .addOption(
      new Option('--task <task>', "task (default: the dataset's, else binary for 2 outputs)").choices([
        'binary',
        'multiclass',
        'multilabel',
      ]),
    )
    .option('--input <HxWxC>', "input size when the graph's is dynamic, e.g. 224x224x3")
    .addOption(
      new Option(
        '--layout <layout>',
        "the graph's input layout (default: NCHW when the channel axis is 1 or 3)",
      ).choices(['nchw', 'nhwc']),
    )
    .option(
      '--mean <list>',
      'per-channel mean subtracted before the graph (in the --range units), e.g. 0.485,0.456,0.406',
    )
    .option('--std <list>', 'per-channel std divided by before the graph, e.g. 0.229,0.224,0.225')
    .option('--range <lo,hi>', 'pixel range the graph expects: 0,1 or 0,255', '0,1')
    .addOption(new Option('--output <kind>', 'what the graph outputs').choices(['logits', 'probs']).default('logits'))
    .option(
      '--dataset <name|path>',
      'dataset for the onnxruntime check and an evaluation (default: PneumoniaMNIST test images, resized, check only)',
    )
    .addOption(new Option('--split <name>', 'split of --dataset').choices(['train', 'val', 'test']).default('test'))
    .option(
      '--feature-layers <names>',
      'ONNX node outputs the detectors use (default: the input of the last Gemm/MatMul)',
    )
    .option('--name <name>', 'model name in the card (default: the file name)')
    .option('--data-dir <dir>', 'dataset cache directory (env MEDSHIELD_DATA)')
    .action(
      action(async (file: string, o: ImportCli) => {
        let input: [number, number, number] | undefined;
        if (o.input !== undefined) {
          const m = /^(\d+)x(\d+)x(\d+)$/i.exec(o.input.trim());
          if (!m) throw badArgument(`--input '${o.input}' must look like 224x224x3`);
          input = [Number(m[1]), Number(m[2]), Number(m[3])];
          if (input.some((d) => d < 1 || d > 8192))
            throw badArgument(`--input '${o.input}' has an out-of-range dimension`);
        }
        const range = numbers('--range', o.range)!;
        if (range.length !== 2) throw badArgument(`--range '${o.range}' must be two numbers, e.g. 0,255`);
        const classes = o.classes
          ?.split(',')
          .map((s) => s.trim())
          .filter(Boolean);
        if (o.classes !== undefined && (!classes || classes.length < 2))
          throw badArgument('--classes needs at least two names');
        await startEngine(o);
        const r = await importModel({
          file,
          out: o.out,
          classes,
          task: o.task,
          input,
          layout: o.layout,
          mean: numbers('--mean', o.mean),
          std: numbers('--std', o.std),
          range: range as [number, number],
          output: o.output,
          dataset: o.dataset,
          split: o.split,
          name: o.name,
          dataDir: o.dataDir,
          featureLayers: o.featureLayers
            ?.split(',')
            .map((s) => s.trim())
            .filter(Boolean),
        });
        if (o.json) return printJson(r);
        process.stdout.write(
          `imported ${file} → ${r.out}: opset ${r.opset}, ${r.ops.length} op types, ` +
            `${r.parameters} parameters, input ${r.input.shape.join('×')} ${r.input.layout}\n`,
        );
        process.stdout.write(`  check vs onnxruntime: ${r.check.images} images, max |Δ| ${r.check.maxAbsDiff}\n`);
        process.stdout.write(`  feature layers: ${r.featureLayers.join(', ')}\n`);
        if (r.eval) process.stdout.write(`  accuracy ${r.eval.accuracy}, AUC ${r.eval.auc}\n`);
      }),
    );
}
