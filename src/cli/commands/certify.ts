/**
 * `medshield certify`: certified L2 accuracy of the randomized-smoothing classifier built on a model
 * (Cohen et al., ICML 2019, CERTIFY): for each image n0 selection samples, n estimation samples,
 * the Clopper–Pearson lower bound p̲_A at level α and R = σ·Φ⁻¹(p̲_A); certified accuracy at radius r
 * = fraction of images certified correct with R ≥ r.
 * The work is the library's `certify` verb (src/api/certify.ts).
 * Usage: `medshield certify --model DIR --dataset pneumoniamnist --sigma 0.25 --n 1000 --limit 100 --json`
 */
import type { Command } from 'commander';
import { action, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import { addFlags, pick } from '../flags.js';
import { DATA_DIR_FLAG } from '../data-options.js';
import type { SplitName } from '../../api/common.js';
import { certify, certifyJson, certifyText, type CertifySpec } from '../../api/certify.js';
import { badArgument } from '../../errors.js';
import { progress, note } from '../progress.js';

type CertifyCli = CommonOptions & { dataset: string; split: SplitName; limit?: number; dataDir?: string };

const FLAGS = {
  '--model <dir>; default default': "model directory or 'default'",
  '--dataset <name|path>; required': 'MedMNIST name or .npz path',
  '--split <name>; default test': 'split to certify: train, val or test',
  '--sigma <x>; num -Infinity..Infinity; default 0.25': 'noise level σ of the smoothed classifier',
  '--n <n>; int 1..1e8; default 1000': 'Monte-Carlo samples for the estimate',
  '--n0 <n>; int 1..1e8; default 100': 'Monte-Carlo samples for selecting the class',
  '--alpha <x>; num -Infinity..Infinity; default 0.001': 'failure probability α',
  '--limit <n>; int 1..1e9': 'certify a seeded sample of N images',
  '--batch <n>; int 1..65536; default 256': 'noise samples per forward batch',
  '--radii <list>; default 0,0.25,0.5,0.75,1': 'L2 radii to report',
};

export default function register(program: Command): void {
  const about = 'certified L2 robustness by randomized smoothing (Cohen et al. 2019)';
  addFlags(withCommon(program.command('certify').description(about)), FLAGS, DATA_DIR_FLAG).action(
    action(async (o: CertifyCli) => {
      if (!['train', 'val', 'test'].includes(o.split))
        throw badArgument(`--split must be train, val or test, got '${o.split}'`);
      await startEngine(o);
      const spec: CertifySpec = {
        ...pick<CertifySpec>(o, 'model'),
        data: pick(o, 'dataset split limit dataDir'),
        ...pick(o, 'sigma n n0 alpha batch radii seed'),
      };
      const r = await certify(spec, { progress, onNote: note });
      if (o.json) return printJson(certifyJson(r));
      process.stdout.write(certifyText(r));
    }),
  );
}
