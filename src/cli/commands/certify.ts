/**
 * `medshield certify`: certified L2 accuracy of the randomized-smoothing classifier built on a model
 * (Cohen et al., ICML 2019, CERTIFY): for each image n0 selection samples, n estimation samples,
 * the Clopper–Pearson lower bound p̲_A at level α and R = σ·Φ⁻¹(p̲_A); certified accuracy at radius r
 * = fraction of images certified correct with R ≥ r.
 * The work is the library's `certify` verb (src/api/certify.ts).
 * Usage: `medshield certify --model DIR --dataset pneumoniamnist --sigma 0.25 --n 1000 --limit 100 --json`
 */
import type { Command } from 'commander';
import { action, parseFloatArg, parseIntArg, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import type { SplitName } from '../../api/common.js';
import { certify, certifyJson } from '../../api/certify.js';
import { badArgument } from '../../errors.js';
import { progress, note } from '../progress.js';

interface CertifyCli extends CommonOptions {
  model: string;
  dataset: string;
  split: SplitName;
  sigma: number;
  n: number;
  n0: number;
  alpha: number;
  limit?: number;
  batch: number;
  radii: string;
  dataDir?: string;
}

export default function register(program: Command): void {
  withCommon(
    program.command('certify').description('certified L2 robustness by randomized smoothing (Cohen et al. 2019)'),
  )
    .option('--model <dir>', "model directory or 'default'", 'default')
    .requiredOption('--dataset <name|path>', 'MedMNIST name or .npz path')
    .option('--split <name>', 'split to certify: train, val or test', 'test')
    .option(
      '--sigma <x>',
      'noise level σ of the smoothed classifier',
      parseFloatArg('--sigma', -Infinity, Infinity),
      0.25,
    )
    .option('--n <n>', 'Monte-Carlo samples for the estimate', parseIntArg('--n', 1, 1e8), 1000)
    .option('--n0 <n>', 'Monte-Carlo samples for selecting the class', parseIntArg('--n0', 1, 1e8), 100)
    .option('--alpha <x>', 'failure probability α', parseFloatArg('--alpha', -Infinity, Infinity), 0.001)
    .option('--limit <n>', 'certify a seeded sample of N images', parseIntArg('--limit', 1, 1e9))
    .option('--batch <n>', 'noise samples per forward batch', parseIntArg('--batch', 1, 65536), 256)
    .option('--radii <list>', 'L2 radii to report', '0,0.25,0.5,0.75,1')
    .option('--data-dir <dir>', 'dataset cache directory (env MEDSHIELD_DATA)')
    .action(
      action(async (o: CertifyCli) => {
        if (!['train', 'val', 'test'].includes(o.split))
          throw badArgument(`--split must be train, val or test, got '${o.split}'`);
        await startEngine(o);
        const r = await certify(
          {
            model: o.model,
            data: { dataset: o.dataset, split: o.split, limit: o.limit, dataDir: o.dataDir },
            sigma: o.sigma,
            n: o.n,
            n0: o.n0,
            alpha: o.alpha,
            batch: o.batch,
            radii: o.radii,
            seed: o.seed,
          },
          { progress, onNote: note },
        );
        if (o.json) return printJson(certifyJson(r));
        process.stdout.write(
          `randomized smoothing σ=${r.sigma}, n0=${r.n0}, n=${r.n}, α=${r.alpha} on ` +
            `${r.images} ${r.dataset} ${r.split} images (${r.abstained} abstained)\n`,
        );
        for (const c of r.certifiedAccuracy)
          process.stdout.write(`  certified accuracy at L2 radius ${c.radius}: ${c.accuracy.toFixed(4)}\n`);
      }),
    );
}
