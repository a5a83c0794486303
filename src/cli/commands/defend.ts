/**
 * `medshield defend`: clean and robust accuracy of input-transform defences (JPEG, bit depth, median,
 * blur, random resize-and-pad, …) under white-box attacks, beside the undefended model (defence "none").
 * Non-adaptive protocol: the adversarial images are crafted on the undefended model, then classified by
 * each defended model (src/eval/defences.ts). `--defence` is repeatable, and one value may hold
 * several defences separated by ';' (or ',' before a name): `--defence jpeg:q=75 --defence median:k=3`,
 * `--defence 'bitdepth:bits=4;blur:sigma=1'`; '+' chains transforms: `bitdepth:bits=4+median:k=3`.
 *
 *   medshield defend --model default --defence jpeg:q=75 --defence bitdepth:bits=4 --attacks fgsm,pgd --eps 2/255,8/255 --limit 200 --json
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { action, parseIntArg, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import type { SplitName } from '../../data/dataset.js';
import { addImageSetOptions, DATASET_HELP, loadDataFor, withImageSet, type DataCli } from '../data-options.js';
import { loadModel } from '../../models/io.js';
import { getAttack } from '../../attacks/registry.js';
import { parseEpsilonList, checkEpsilon } from '../../attacks/epsilon.js';
import type { Norm } from '../../attacks/types.js';
import { selectImages } from '../../eval/images.js';
import { DEFENCE_NAMES, parseDefenceList } from '../../defences/registry.js';
import { evaluateDefences, NON_ADAPTIVE_NOTE } from '../../eval/defences.js';
import { badArgument, unsupported } from '../../errors.js';
import { progress, note } from '../progress.js';

interface DefendCli extends CommonOptions, DataCli {
  model: string; split: SplitName; limit?: number; defence: string[]; attacks: string; eps: string;
  steps?: number; norm?: Norm; batchSize: number;
}

export default function register(program: Command): void {
  addImageSetOptions(withCommon(program.command('defend').description('clean and robust accuracy of input-transform defences under white-box attacks crafted on the undefended model (non-adaptive)'))
    .option('--model <dir>', "model directory, or 'default' for the shipped model", 'default')
    .option('--dataset <name|path|dir|csv>', DATASET_HELP)
    .addOption(new Option('--split <name>', 'split').choices(['train', 'val', 'test']).default('test'))
    .option('--limit <n>', 'evaluate a seeded sample of N images', parseIntArg('--limit', 1, 1e9))
    .option('--defence <spec>', `defence (repeatable): ${DEFENCE_NAMES().join(', ')} with parameters, e.g. jpeg:q=75, bitdepth:bits=4, median:k=3, blur:sigma=1, resizepad:max=1.15; ';' separates several in one value, '+' chains transforms`, (v: string, prev: string[] = []) => [...prev, v])
    .option('--attacks <list>', 'white-box attacks, comma-separated (fgsm, bim, pgd, cw, deepfool, …)', 'fgsm,pgd')
    .requiredOption('--eps <list>', 'perturbation budget(s): 2/255 or 0.0078, comma-separated')
    .option('--steps <n>', "iterations of iterative attacks (default: each attack's own)", parseIntArg('--steps', 1, 1e6))
    .addOption(new Option('--norm <norm>', 'norm of the ε ball (default: L∞ where the attack supports it)').choices(['linf', 'l2', 'l1', 'l0']))
    .option('--batch-size <n>', 'images per attack batch', parseIntArg('--batch-size', 1, 65536), 128)
    .option('--data-dir <dir>', 'dataset cache directory (env MEDSHIELD_DATA)'))
    .action(action(async (o: DefendCli) => {
      if (!o.defence?.length) throw badArgument(`give at least one --defence (${DEFENCE_NAMES().join(', ')}, e.g. jpeg:q=75)`);
      const defences = o.defence.flatMap(parseDefenceList);
      const attacks = [...new Set(o.attacks.split(',').map((a) => a.trim()).filter(Boolean))].map(getAttack);
      if (!attacks.length) throw badArgument('--attacks needs at least one attack name');
      for (const a of attacks) {
        if (a.threatModel !== 'whitebox') throw unsupported(`defend crafts adversarial examples white-box on the undefended model; '${a.name}' is a ${a.threatModel} attack`);
        if (o.norm && !a.norms.includes(o.norm)) throw unsupported(`attack '${a.name}' does not support the ${o.norm} norm (choose ${a.norms.join(', ')})`);
      }
      const epsList = parseEpsilonList(o.eps);
      await startEngine(o);
      const model = await loadModel(o.model);
      if (!model.differentiable) throw unsupported(`defend crafts white-box attacks and needs gradients; '${o.model}' is a forward-only (ONNX) model`);
      const data = await loadDataFor(o, model.card, { split: o.split });
      const split = data.splits[o.split];
      const d = split.height * split.width * split.channels;
      for (const a of attacks) for (const e of epsList) checkEpsilon(e.value, o.norm ?? (a.norms.includes('linf') ? 'linf' : a.defaultNorm), d, e.text);
      const images = selectImages(split, o.limit, o.seed);
      const total = attacks.length * epsList.length * images.n;
      const bar = progress('defend', total);
      note(`note: ${NON_ADAPTIVE_NOTE}`);
      let rows;
      try {
        rows = await evaluateDefences(model, images, defences, attacks, epsList, {
          seed: o.seed, steps: o.steps, norm: o.norm, batchSize: o.batchSize,
          onProgress: (ai, ei, done, t) => bar.update(Math.round(((ai * epsList.length + ei) + done / t) * images.n), { attack: attacks[ai].name, eps: epsList[Math.min(ei, epsList.length - 1)].text }),
        });
      } finally {
        bar.stop();
      }
      if (o.json) return printJson(withImageSet(rows, data));
      process.stdout.write(`${model.card.name} on ${data.name}/${o.split} (n=${images.n}), non-adaptive:\n`);
      const width = Math.max(7, ...rows.map((r) => r.defence.length));
      process.stdout.write(`  ${'defence'.padEnd(width)}  attack    norm  ε        clean   robust\n`);
      for (const r of rows) {
        const epsText = epsList.find((e) => e.value === r.eps)?.text ?? String(r.eps);
        process.stdout.write(`  ${r.defence.padEnd(width)}  ${r.attack.padEnd(8)}  ${r.norm.padEnd(4)}  ${epsText.padEnd(7)}  ${r.cleanAccuracy.toFixed(4)}  ${r.robustAccuracy.toFixed(4)}\n`);
      }
    }));
}
