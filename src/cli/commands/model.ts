/**
 * `medshield model import FILE.onnx --out DIR …`: import an ONNX classifier as a differentiable
 * medshield model directory (src/models/onnx-import.ts does the work; docs/your-model.md).
 */
import type { Command } from 'commander';
import { action, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import { addFlags, nameList, numberList, pick } from '../flags.js';
import { badArgument } from '../../api/common-b.js';
import { importModel, importText, type ImportModelSpec } from '../../api/model.js';

type Texts = 'classes' | 'input' | 'mean' | 'std' | 'range' | 'featureLayers';
type ImportCli = CommonOptions & Omit<ImportModelSpec, 'file' | Texts> & Partial<Record<Texts, string>>;

const FLAGS = {
  '--out <dir>; required': 'model directory to write (model.onnx + model-card.json)',
  '--classes <a,b,…>': "class names, in output order (default: the dataset's, else numbered)",
  '--task <task>; one of binary|multiclass|multilabel': "task (default: the dataset's, else binary for 2 outputs)",
  '--input <HxWxC>': "input size when the graph's is dynamic, e.g. 224x224x3",
  '--layout <layout>; one of nchw|nhwc': "the graph's input layout (default: NCHW when the channel axis is 1 or 3)",
  '--mean <list>': 'per-channel mean subtracted before the graph (in the --range units), e.g. 0.485,0.456,0.406',
  '--std <list>': 'per-channel std divided by before the graph, e.g. 0.229,0.224,0.225',
  '--range <lo,hi>; default 0,1': 'pixel range the graph expects: 0,1 or 0,255',
  '--output <kind>; one of logits|probs; default logits': 'what the graph outputs',
  '--dataset <name|path>':
    'dataset for the onnxruntime check and an evaluation (default: PneumoniaMNIST test images, resized, check only)',
  '--split <name>; one of train|val|test; default test': 'split of --dataset',
  '--feature-layers <names>': 'ONNX node outputs the detectors use (default: the input of the last Gemm/MatMul)',
  '--name <name>': 'model name in the card (default: the file name)',
  '--data-dir <dir>': 'dataset cache directory (env MEDSHIELD_DATA)',
};

/** `--input 224x224x3` as [H, W, C]. */
function shape(v: string | undefined): [number, number, number] | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+)x(\d+)x(\d+)$/i.exec(v.trim());
  if (!m) throw badArgument(`--input '${v}' must look like 224x224x3`);
  const input: [number, number, number] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (input.some((d) => d < 1 || d > 8192)) throw badArgument(`--input '${v}' has an out-of-range dimension`);
  return input;
}

export default function register(program: Command): void {
  const model = program.command('model').description('manage models brought from elsewhere');
  const about =
    'import an ONNX classifier as a differentiable model directory (white-box attacks, detectors, defences, scorecard)';
  const cmd = withCommon(model.command('import').description(about).argument('<file.onnx>', 'ONNX model file'));
  addFlags(cmd, FLAGS).action(
    action(async (file: string, o: ImportCli) => {
      const input = shape(o.input);
      const range = numberList('--range', o.range)!;
      if (range.length !== 2) throw badArgument(`--range '${o.range}' must be two numbers, e.g. 0,255`);
      const classes = nameList(o.classes);
      if (o.classes !== undefined && (!classes || classes.length < 2))
        throw badArgument('--classes needs at least two names');
      await startEngine(o);
      const [mean, std] = [numberList('--mean', o.mean), numberList('--std', o.std)];
      const spec: ImportModelSpec = { file, out: o.out, classes, task: o.task, input, layout: o.layout, mean, std };
      const more = pick<Partial<ImportModelSpec>>(o, 'output dataset split name dataDir');
      const r = await importModel({
        ...spec,
        range: range as [number, number],
        ...more,
        featureLayers: nameList(o.featureLayers),
      });
      if (o.json) return printJson(r);
      process.stdout.write(importText(file, r));
    }),
  );
}
