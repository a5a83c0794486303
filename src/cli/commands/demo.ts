import type { Command } from 'commander';
import { action, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import { loadDataset, labelCounts } from '../../data/dataset.js';
import { loadClassifier } from '../../models/io.js';
import { evaluateSplit } from '../../models/train.js';
import { predictions, round } from '../../eval/metrics.js';

/**
 * The main job on the embedded default: the shipped ResNet-18 and the shipped PneumoniaMNIST.
 * Later stages (attack → defend → detect → adaptive attack → sign/verify → report) join here as
 * their issues land; until then the demo says which are not there yet.
 */
export default function register(program: Command): void {
  withCommon(program.command('demo').description('run the main job on the embedded default model and data'))
    .action(action(async (o: CommonOptions) => {
      const t0 = Date.now();
      const engine = await startEngine(o);
      const model = await loadClassifier('default');
      const data = await loadDataset(model.card.dataset.name);
      const test = data.splits.test;
      const r = await evaluateSplit(model, test);
      const k = model.classes.length;
      const pred = predictions({ probs: r.probs, n: test.n, k }, model.task);
      const counts = labelCounts(test, k);
      const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
      for (let i = 0; i < test.n; i++) confusion[test.labels[i]][pred[i]]++;
      const card = model.card;
      const summary = {
        model: { name: card.name, architecture: card.architecture.name, width: card.architecture.width, parameters: card.architecture.parameters, cardTest: card.metrics.test },
        dataset: { name: data.name, split: 'test', n: test.n, classCounts: Object.fromEntries(model.classes.map((c, i) => [c, counts[i]])) },
        test: { accuracy: round(r.accuracy), auc: round(r.auc) },
        confusion: { rows: 'true class', columns: 'predicted class', classes: model.classes, matrix: confusion },
        backend: engine.backend,
        stagesPending: ['attack', 'defend', 'detect', 'adaptive attack', 'sign/verify', 'report'],
        seconds: round((Date.now() - t0) / 1000, 1),
      };
      if (o.json) return printJson(summary);
      const lines = [
        'medshield demo — a medical-image classifier and its numbers',
        '',
        `Model    ${card.name}: ${card.architecture.name} (width ${card.architecture.width}, ${(card.architecture.parameters / 1e6).toFixed(2)} M parameters), trained by 'medshield train' (seed ${card.training?.seed ?? '?'}, ${card.training?.epochsRun ?? '?'} epochs)`,
        `Data     ${data.name} test split: ${test.n} paediatric chest X-rays at ${test.height}×${test.width} px (${model.classes.map((c, i) => `${counts[i]} ${c}`).join(', ')})`,
        `         MedMNIST v2 (Yang et al. 2023, CC BY 4.0) from Kermany et al. 2018`,
        `Result   accuracy ${r.accuracy.toFixed(4)}, AUC ${r.auc.toFixed(4)}  (model card: ${card.metrics.test?.accuracy} / ${card.metrics.test?.auc})`,
        '',
        `         predicted → ${model.classes.map((c) => c.padStart(10)).join('')}`,
        ...confusion.map((row, i) => `         ${model.classes[i].padStart(9)}   ${row.map((v) => String(v).padStart(10)).join('')}`),
        '',
        `Of ${counts[1] ?? 0} pneumonia cases the model found ${confusion[1]?.[1] ?? 0}; of ${counts[0]} normal films it called ${confusion[0][1]} pneumonia.`,
        `Not yet in the demo (their issues are open): ${summary.stagesPending.join(' → ')}.`,
        `Backend ${engine.backend}; ${summary.seconds} s. Reproduce: medshield eval --model default --dataset ${data.name} --split test`,
      ];
      process.stdout.write(lines.join('\n') + '\n');
    }));
}
