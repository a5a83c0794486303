/** `medshield predict`: a shell over the library's `predict` verb (src/api/predict.ts). */
import type { Command } from 'commander';
import { action, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import { predict } from '../../api/predict.js';
import { badArgument } from '../../errors.js';

interface PredictCli extends CommonOptions {
  model?: string;
}

export default function register(program: Command): void {
  withCommon(
    program
      .command('predict')
      .description('classify image files (PNG, JPEG, DICOM) with a model')
      .argument('<files...>', 'image files'),
  )
    .option('--model <dir>', "model directory, .onnx file, or 'default' for the shipped model", 'default')
    .action(
      action(async (files: string[], o: PredictCli) => {
        if (!files.length) throw badArgument('give at least one image file');
        await startEngine(o);
        const rows = await predict({ model: o.model, files });
        if (o.json) return printJson(rows);
        for (const r of rows)
          process.stdout.write(
            `${r.file}: ${Array.isArray(r.className) ? r.className.join(', ') || '(none)' : r.className}` +
              ` (${r.probabilities.map((v) => v.toFixed(3)).join(' ')})\n`,
          );
      }),
    );
}
