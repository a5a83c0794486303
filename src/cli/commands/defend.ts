/**
 * `medshield defend`: clean and robust accuracy of input-transform defences (JPEG, bit depth, median,
 * blur, random resize-and-pad, …) under white-box attacks, beside the undefended model (defence "none").
 * Non-adaptive protocol: the adversarial images are crafted on the undefended model, then classified by
 * each defended model (src/eval/defences.ts). `--defence` is repeatable, and one value may hold
 * several defences separated by ';' (or ',' before a name): `--defence jpeg:q=75 --defence median:k=3`,
 * `--defence 'bitdepth:bits=4;blur:sigma=1'`; '+' chains transforms: `bitdepth:bits=4+median:k=3`.
 *
 *   medshield defend --model default --defence jpeg:q=75 --defence bitdepth:bits=4 --attacks fgsm,pgd --eps 2/255,8/255
 *   --limit 200 --json
 */
import type { Command } from 'commander';
import { action, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import { addFlags, pick } from '../flags.js';
import * as D from '../data-options.js';
import { defend, defendText, DEFENCE_NAMES, type DefendSpec } from '../../api/defend.js';
import { progress, note } from '../progress.js';

interface DefendCli extends CommonOptions, D.DataCli {
  defence?: string[];
}

const FLAGS = {
  '--limit <n>; int 1..1e9': 'evaluate a seeded sample of N images',
  '--defence <spec>; repeat':
    `defence (repeatable): ${DEFENCE_NAMES().join(', ')} with parameters, e.g. jpeg:q=75, ` +
    `bitdepth:bits=4, median:k=3, blur:sigma=1, resizepad:max=1.15; ` +
    `';' separates several in one value, '+' chains transforms`,
  '--attacks <list>; default fgsm,pgd': 'white-box attacks, comma-separated (fgsm, bim, pgd, cw, deepfool, …)',
  '--eps <list>; required': 'perturbation budget(s): 2/255 or 0.0078, comma-separated',
  '--steps <n>; int 1..1e6': "iterations of iterative attacks (default: each attack's own)",
  '--norm <norm>; one of linf|l2|l1|l0': 'norm of the ε ball (default: L∞ where the attack supports it)',
  '--batch-size <n>; int 1..65536; default 128': 'images per attack batch',
};

export default function register(program: Command): void {
  const about =
    'clean and robust accuracy of input-transform defences under ' +
    'white-box attacks crafted on the undefended model (non-adaptive)';
  const cmd = withCommon(program.command('defend').description(about));
  addFlags(cmd, D.MODEL_DATA_FLAGS, D.SPLIT_FLAG, FLAGS, D.DATA_DIR_FLAG, D.IMAGE_SET_FLAGS).action(
    action(async (o: DefendCli) => {
      await startEngine(o);
      const spec: DefendSpec = {
        ...pick<DefendSpec>(o, 'model'),
        defences: o.defence ?? [],
        ...pick(o, 'attacks eps steps norm batchSize seed'),
        data: D.dataRef(o),
      };
      const r = await defend(spec, { progress, onNote: note });
      if (o.json) return printJson(r.json);
      process.stdout.write(defendText(r));
    }),
  );
}
