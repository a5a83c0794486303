/**
 * `medshield universal`: one universal adversarial perturbation (Moosavi-Dezfooli et al., CVPR 2017)
 * fitted on a seeded sample of the training split, and its fooling rate there and on held-out test images.
 * The work is the library's `universal` verb (src/api/universal.ts).
 */
import type { Command } from 'commander';
import { action, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import { addFlags, pick } from '../flags.js';
import * as D from '../data-options.js';
import { universal, universalText, type UniversalSpec } from '../../api/universal.js';
import { progress, note } from '../progress.js';

type UniversalCli = CommonOptions & D.DataCli & UniversalSpec;

const FLAGS = {
  '--eps <ε>; required': 'radius of the ε ball: 8/255 or 0.0314 (L∞), Euclidean length (L2)',
  '--norm <norm>; one of linf|l2; default linf': 'norm of the ε ball',
  '--method <name>; one of pgd|deepfool; default pgd':
    'per-minibatch projected gradient steps (Shafahi et al. ' +
    "2020) or per-image DeepFool steps (the paper's Algorithm 1)",
  '--fit-limit <n>; int 1..1e9; default 200': 'fit δ on a seeded sample of N training images',
  '--limit <n>; int 1..1e9': 'hold-out: a seeded sample of N test images (default: all)',
  '--max-iter <n>; int 1..1000; default 10': 'passes over the fit images',
  '--fooling-rate <x>; num 0.01..1; default 0.8': 'stop once this fraction of the fit images is fooled (1 − ξ)',
  '--save <file.png>': 'write δ as PNG (mid-grey = 0, amplified to the full grey range)',
};

export default function register(program: Command): void {
  const about =
    'universal adversarial perturbation (Moosavi-Dezfooli et al. ' +
    '2017): one δ for the whole set, fooling rate on held-out images';
  const cmd = withCommon(program.command('universal').description(about));
  addFlags(cmd, D.MODEL_DATA_FLAGS, FLAGS, D.DATA_DIR_FLAG, D.IMAGE_SET_FLAGS).action(
    action(async (o: UniversalCli) => {
      await startEngine(o);
      const spec: UniversalSpec = {
        ...pick<UniversalSpec>(o, 'model eps norm method fitLimit maxIter foolingRate save seed'),
        data: D.dataRef(o),
      };
      const r = await universal(spec, { progress, onNote: note });
      if (o.json) return printJson(r.json);
      process.stdout.write(universalText(r, spec));
    }),
  );
}
