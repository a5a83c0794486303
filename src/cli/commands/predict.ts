import type { Command } from 'commander';
import { readFileSync, existsSync, statSync } from 'node:fs';
import { action, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import { loadModel } from '../../models/io.js';
import { decodeImage } from '../../data/image.js';
import { toModelInput } from '../../data/resize.js';
import { badArgument, badInput, notFound } from '../../errors.js';
import { predictions } from '../../eval/metrics.js';
import { round } from '../../eval/metrics.js';

interface PredictCli extends CommonOptions { model?: string }

export default function register(program: Command): void {
  withCommon(program.command('predict').description('classify image files (PNG, JPEG, DICOM) with a model').argument('<files...>', 'image files'))
    .option('--model <dir>', "model directory, .onnx file, or 'default' for the shipped model", 'default')
    .action(action(async (files: string[], o: PredictCli) => {
      if (!files.length) throw badArgument('give at least one image file');
      await startEngine(o);
      const model = await loadModel(o.model);
      const [h, w, c] = model.inputShape;
      const inputs: Float32Array[] = [];
      for (const f of files) {
        if (!existsSync(f)) throw notFound(`image '${f}' does not exist`);
        if (!statSync(f).isFile()) throw badInput(`'${f}' is not a file`);
        const img = await decodeImage(new Uint8Array(readFileSync(f)), f);
        inputs.push(toModelInput(img, [h, w, c]));
      }
      const x = new Float32Array(inputs.length * h * w * c);
      inputs.forEach((a, i) => x.set(a, i * h * w * c));
      const probs = await model.predictProbs(x, inputs.length);
      const k = model.classes.length;
      const labels = model.task === 'multilabel' ? null : predictions({ probs, n: inputs.length, k }, model.task);
      const rows = files.map((file, i) => {
        const p = Array.from(probs.subarray(i * k, (i + 1) * k), (v) => round(v, 6));
        if (!labels) {
          const on = p.map((v, j) => (v > 0.5 ? j : -1)).filter((j) => j >= 0);
          return { file, label: on, className: on.map((j) => model.classes[j]), probabilities: p };
        }
        return { file, label: labels[i], className: model.classes[labels[i]], probabilities: p };
      });
      if (o.json) return printJson(rows);
      for (const r of rows) process.stdout.write(`${r.file}: ${Array.isArray(r.className) ? r.className.join(', ') || '(none)' : r.className} (${r.probabilities.map((v) => v.toFixed(3)).join(' ')})\n`);
    }));
}
