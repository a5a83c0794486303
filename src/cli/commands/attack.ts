/**
 * `medshield attack`: robust accuracy, success rate, perturbation sizes (and queries: query attacks on the
 * model, `--target-onnx` or `--target-url`) for one ε (an object) or several (an array); `--out FILE` keeps
 * the finished runs if a later one fails. A shell over the library's `attack` verb (src/api/attack.ts).
 */
import type { Command } from 'commander';
import { action, commandLine, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import { addFlags, pick } from '../flags.js';
import * as D from '../data-options.js';
import { TARGET_FLAGS, victimRef, type TargetCli } from '../target-options.js';
import { partialOut } from '../partial-out.js';
import { attack, attackText, ATTACK_NAMES, type AttackSpec } from '../../api/attack.js';
import { progress, note } from '../progress.js';

type Texts = Partial<
  Record<'steps' | 'surrogate' | 'out' | 'report' | 'records' | 'saveExamples' | 'saveAdversarial', string>
>;
interface AttackCli extends CommonOptions, TargetCli, D.DataCli, Texts {
  eps: string;
}

const FLAGS = {
  '--limit <n>; int 1..1e9': 'attack a seeded sample of N images',
  '--attack <name>; required': `attack: ${ATTACK_NAMES.join(', ')}`,
  '--eps <list>; required': 'perturbation budget(s): 8/255 or 0.0314, comma-separated for a sweep',
  '--steps <list>':
    "iterations (default: the attack's own); comma-separated for a step sweep at one ε, e.g. 5,10,20,50",
  '--step-size <x>': 'step size α (e.g. 0.5/255)',
  '--norm <norm>; one of linf|l2|l1|l0': "norm of the ε ball (default: the attack's native norm)",
  '--targeted': 'targeted attack (binary tasks: the other class unless --target)',
  '--target <class>': "target class index, or 'other' on binary tasks",
  '--label <n|all>': 'multi-label heads: the label to attack (default all)',
  '--loss <name>; one of ce|cw|dlr': 'loss for gradient attacks',
  '--restarts <n>; int 1..1000': 'random restarts (PGD, APGD, FAB)',
  '--batch-size <n>; int 1..65536; default 128': 'images per attack batch',
  '--save-examples <dir>': 'write original/adversarial/difference PNGs of a few examples',
  '--save-adversarial <file.npz>':
    'write the float32 adversarial set (clean_images, adv_images, labels, ' +
    'indices, clean/adv_predictions, success, eps, steps) as NumPy .npz',
  '--records <file>': 'write per-sample records (.json or .csv)',
  '--report <file>': 'write a self-contained HTML report',
};
const QUERY_FLAGS = {
  '--max-queries <n>; int 1..1e9':
    "query attacks: budget of target queries per image (default: the attack's own, 5000)",
  '--p-init <x>': 'square: initial fraction of pixels changed per window (default 0.05 L∞, 0.1 L2)',
  '--surrogate <dirs>': 'transfer: surrogate model director(ies), comma-separated (an ensemble averages their logits)',
  '--base-attack <name>': 'transfer: the white-box attack run on the surrogate (default difgsm, µ = 1)',
  '--out <file>': 'also write the JSON result to FILE, after every ε (a failure keeps the finished part)',
};
const SPEC = 'model attack eps steps stepSize norm loss restarts batchSize seed maxQueries pInit surrogates baseAttack';

export default function register(program: Command): void {
  const cmd = program
    .command('attack')
    .description(
      'evasion attack (white-box, query-based or transfer) on a dataset ' +
        'split: robust accuracy, success rate, perturbation size, queries',
    );
  addFlags(withCommon(cmd), D.MODEL_DATA_FLAGS, D.SPLIT_FLAG, FLAGS, D.DATA_DIR_FLAG, QUERY_FLAGS);
  addFlags(cmd, D.IMAGE_SET_FLAGS, TARGET_FLAGS).action(
    action(async (o: AttackCli) => {
      await startEngine(o);
      const nRuns = Math.max(o.eps.split(',').filter((t) => t.trim()).length, o.steps?.split(',').length ?? 0);
      const out = partialOut(o.out, nRuns === 1);
      const spec: AttackSpec = {
        ...pick<AttackSpec>({ ...o, surrogates: o.surrogate }, `${SPEC} targeted target label`),
        victim: victimRef(o),
        data: D.dataRef(o),
        save: { records: o.records, examples: o.saveExamples, adversarial: o.saveAdversarial, report: o.report },
      };
      const hooks = { onNote: note, command: commandLine(true), ...out.hooks(progress) };
      const r = await out.guard(() => attack(spec, hooks));
      if (o.json) return printJson(r.json);
      process.stdout.write(attackText(r, o.report));
    }),
  );
}
