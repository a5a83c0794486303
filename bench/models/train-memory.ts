/**
 * Peak RSS of `medshield train` by phase (issue 21): the same library calls as `medshield train --model M
 * --dataset D --limit N --epochs E --batch-size B` (src/api/train.ts → fitClassifier), with the process's peak RSS
 * (getrusage maxRSS) and the engine's live tensor bytes read after every optimiser step, after each epoch's
 * validation pass, and after the final val/test evaluation. The PyTorch side of the same run is
 * bench/models/torch_train_rss.py; bench/README.md has both commands and the figures.
 *
 *   MEDSHIELD_THREADS=2 node dist/bench/models/train-memory.js --model resnet50 --limit 384 --batch 128 --epochs 1
 *
 * Last stdout line: {"model","limit","batch","epochs","stepsPeakMB","valPeakMB","peakMB","val","test","steps":[…]}.
 */
import { engineInfo, tf } from '../../src/engine/index.js';
import { openTrainingData } from '../../src/api/common.js';
import { newClassifier, fitClassifier } from '../../src/models/factory.js';
import type { Architecture } from '../../src/models/architectures.js';

const args = process.argv.slice(2);
const opt = (k: string, d: string): string => {
  const i = args.indexOf(k);
  return i >= 0 ? args[i + 1]! : d;
};
const arch = opt('--model', 'resnet50') as Architecture;
const dataset = opt('--dataset', 'pneumoniamnist');
const limit = Number(opt('--limit', '384'));
const batchSize = Number(opt('--batch', '128'));
const epochs = Number(opt('--epochs', '1'));
const seed = Number(opt('--seed', '0'));

const mb = (kb: number): number => Math.round(kb / 1024);
const peakMB = (): number => mb(process.resourceUsage().maxRSS);
const liveMB = (): number => Math.round(tf.memory().numBytes / 2 ** 20);

const engine = await engineInfo();
const data = await openTrainingData({ dataset, limit });
const model = newClassifier(arch, data, { seed });
const steps: Array<{ step: number; peakMB: number; rssMB: number; liveMB: number; tensors: number }> = [];
let stepsPeakMB = 0;
let valPeakMB = 0;
const fit = await fitClassifier(model, data, {
  epochs,
  batchSize,
  seed,
  onEvent: (e) => {
    if (e.type === 'step') {
      const s = {
        step: e.step,
        peakMB: peakMB(),
        rssMB: mb(process.memoryUsage().rss / 1024),
        liveMB: liveMB(),
        tensors: tf.memory().numTensors,
      };
      steps.push(s);
      stepsPeakMB = s.peakMB;
      process.stderr.write(`step ${e.step}/${e.steps}: ${JSON.stringify(s)}\n`);
    } else {
      valPeakMB = peakMB();
      process.stderr.write(`epoch ${e.epoch}: validation done, peak ${valPeakMB} MB, live tensors ${liveMB()} MB\n`);
    }
  },
});
console.log(
  JSON.stringify({
    model: arch,
    backend: engine.backend,
    threads: engine.threads,
    limit,
    batch: batchSize,
    epochs,
    stepsPeakMB,
    valPeakMB,
    peakMB: peakMB(),
    liveMB: liveMB(),
    val: fit.val,
    test: fit.test,
    steps,
  }),
);
