/**
 * `medshield certify`: certified L2 accuracy of the randomized-smoothing classifier built on a model
 * (Cohen et al., ICML 2019, CERTIFY): for each image n0 selection samples, n estimation samples,
 * the Clopper–Pearson lower bound p̲_A at level α and R = σ·Φ⁻¹(p̲_A); certified accuracy at radius r
 * = fraction of images certified correct with R ≥ r.
 * Usage: `medshield certify --model DIR --dataset pneumoniamnist --sigma 0.25 --n 1000 --limit 100 --json`
 */
import type { Command } from 'commander';
import { action, parseFloatArg, parseIntArg, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import { loadDataset, type SplitName } from '../../data/dataset.js';
import { loadModel } from '../../models/io.js';
import { checkInputMatches } from '../../models/card.js';
import { selectImages } from '../../eval/images.js';
import { badArgument, unsupported } from '../../errors.js';
import { Rng } from '../../engine/index.js';
import { ABSTAIN, certify, certifiedAccuracy, checkSigma, type Certificate } from '../../defences/smoothing.js';
import { round } from '../../eval/metrics.js';
import { progress } from '../progress.js';

interface CertifyCli extends CommonOptions {
  model: string; dataset: string; split: SplitName; sigma: number; n: number; n0: number; alpha: number; limit?: number; batch: number;
  radii: string; dataDir?: string;
}

export default function register(program: Command): void {
  withCommon(program.command('certify').description('certified L2 robustness by randomized smoothing (Cohen et al. 2019)'))
    .option('--model <dir>', "model directory or 'default'", 'default')
    .requiredOption('--dataset <name|path>', 'MedMNIST name or .npz path')
    .option('--split <name>', 'split to certify: train, val or test', 'test')
    .option('--sigma <x>', 'noise level σ of the smoothed classifier', parseFloatArg('--sigma', -Infinity, Infinity), 0.25)
    .option('--n <n>', 'Monte-Carlo samples for the estimate', parseIntArg('--n', 1, 1e8), 1000)
    .option('--n0 <n>', 'Monte-Carlo samples for selecting the class', parseIntArg('--n0', 1, 1e8), 100)
    .option('--alpha <x>', 'failure probability α', parseFloatArg('--alpha', -Infinity, Infinity), 0.001)
    .option('--limit <n>', 'certify a seeded sample of N images', parseIntArg('--limit', 1, 1e9))
    .option('--batch <n>', 'noise samples per forward batch', parseIntArg('--batch', 1, 65536), 256)
    .option('--radii <list>', 'L2 radii to report', '0,0.25,0.5,0.75,1')
    .option('--data-dir <dir>', 'dataset cache directory (env MEDSHIELD_DATA)')
    .action(action(async (o: CertifyCli) => {
      checkSigma(o.sigma);
      if (o.n < o.n0) throw badArgument(`--n (${o.n}) must be at least --n0 (${o.n0})`);
      if (!(o.alpha > 0 && o.alpha < 1)) throw badArgument(`--alpha must be between 0 and 1, got ${o.alpha}`);
      if (!['train', 'val', 'test'].includes(o.split)) throw badArgument(`--split must be train, val or test, got '${o.split}'`);
      const radii = o.radii.split(',').map((r) => r.trim()).filter(Boolean).map((r) => {
        const v = Number(r);
        if (!Number.isFinite(v) || v < 0) throw badArgument(`--radii must be non-negative numbers, got '${r}'`);
        return v;
      });
      if (!radii.length) throw badArgument('--radii needs at least one radius');
      await startEngine(o);
      const model = await loadModel(o.model);
      if (model.task === 'multilabel') throw unsupported('certify supports single-label tasks only');
      const data = await loadDataset(o.dataset, { dataDir: o.dataDir });
      const split = data.splits[o.split];
      checkInputMatches(model.card, { height: split.height, width: split.width, channels: split.channels, classes: data.info.classes.length, task: data.info.task, name: data.name });
      const images = selectImages(split, o.limit, o.seed);
      const d = images.x.length / images.n;
      const bar = progress('certify', images.n);
      const certs: Certificate[] = [];
      for (let i = 0; i < images.n; i++) {
        certs.push(await certify(model, images.x.subarray(i * d, (i + 1) * d), { sigma: o.sigma, n0: o.n0, n: o.n, alpha: o.alpha, batch: o.batch, rng: new Rng((o.seed ^ 0xce47) + i) }));
        bar.update(i + 1);
      }
      bar.stop();
      const acc = certifiedAccuracy(certs, images.labels, radii).map((r) => ({ radius: r.radius, accuracy: round(r.accuracy) }));
      const abstained = certs.filter((c) => c.prediction === ABSTAIN).length;
      const result = {
        sigma: o.sigma, n: o.n, n0: o.n0, alpha: o.alpha, dataset: data.name, split: o.split, images: images.n, abstained,
        certifiedAccuracy: acc, reference: 'Cohen, Rosenfeld & Kolter, ICML 2019 (CERTIFY)',
      };
      if (o.json) return printJson(result);
      process.stdout.write(`randomized smoothing σ=${o.sigma}, n0=${o.n0}, n=${o.n}, α=${o.alpha} on ${images.n} ${data.name} ${o.split} images (${abstained} abstained)\n`);
      for (const r of acc) process.stdout.write(`  certified accuracy at L2 radius ${r.radius}: ${r.accuracy.toFixed(4)}\n`);
    }));
}
