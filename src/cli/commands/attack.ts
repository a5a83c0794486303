/**
 * `medshield attack`: run an evasion attack on a dataset split and report robust accuracy, attack
 * success rate and perturbation sizes, for one ε (an object) or several (an array). White-box
 * attacks need the model's gradients; query attacks (square, simba, nes, hsj, boundary) query a
 * target — the model in process, an ONNX file (`--target-onnx`) or an HTTP endpoint
 * (`--target-url`) — and add mean/median queries; `transfer` crafts on `--surrogate` models.
 * With `--out FILE`, results are written after every ε, and a failure keeps what was done.
 * The work is the library's `attack` verb (src/api/attack.ts); this file parses, calls it and prints.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { action, parseIntArg, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import type { SplitName } from '../../api/common.js';
import { addImageSetOptions, DATASET_HELP, type DataCli } from '../data-options.js';
import { writeFileSync, renameSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { attack, attackJson, attackText, ATTACK_NAMES } from '../../api/attack.js';
import type { LossName, Norm } from '../../api/common.js';
import { addTargetOptions, victimRef, type TargetCli } from '../target-options.js';
import { MedshieldError } from '../../errors.js';
import { progress, note } from '../progress.js';

interface AttackCli extends CommonOptions, TargetCli, DataCli {
  maxQueries?: number;
  pInit?: string;
  surrogate?: string;
  baseAttack?: string;
  out?: string;
  model: string;
  split: SplitName;
  limit?: number;
  attack: string;
  eps: string;
  steps?: string;
  stepSize?: string;
  norm?: Norm;
  targeted?: boolean;
  target?: string;
  label?: string;
  loss?: LossName;
  restarts?: number;
  batchSize: number;
  saveExamples?: string;
  saveAdversarial?: string;
  records?: string;
  report?: string;
}

/** The fixed JSON object of the CLI contract (kept for callers of the old name). */
export const cliResult = attackJson;

export default function register(program: Command): void {
  const cmd = withCommon(
    program
      .command('attack')
      .description(
        'evasion attack (white-box, query-based or transfer) on a dataset ' +
          'split: robust accuracy, success rate, perturbation size, queries',
      ),
  )
    .option('--model <dir>', "model directory, or 'default' for the shipped model", 'default')
    .option('--dataset <name|path|dir|csv>', DATASET_HELP)
    .addOption(new Option('--split <name>', 'split').choices(['train', 'val', 'test']).default('test'))
    .option('--limit <n>', 'attack a seeded sample of N images', parseIntArg('--limit', 1, 1e9))
    .requiredOption('--attack <name>', `attack: ${ATTACK_NAMES.join(', ')}`)
    .requiredOption('--eps <list>', 'perturbation budget(s): 8/255 or 0.0314, comma-separated for a sweep')
    .option(
      '--steps <list>',
      "iterations (default: the attack's own); comma-separated for a step sweep at one ε, e.g. 5,10,20,50",
    )
    .option('--step-size <x>', 'step size α (e.g. 0.5/255)')
    .addOption(
      new Option('--norm <norm>', "norm of the ε ball (default: the attack's native norm)").choices([
        'linf',
        'l2',
        'l1',
        'l0',
      ]),
    )
    .option('--targeted', 'targeted attack (binary tasks: the other class unless --target)')
    .option('--target <class>', "target class index, or 'other' on binary tasks")
    .option('--label <n|all>', 'multi-label heads: the label to attack (default all)')
    .addOption(new Option('--loss <name>', 'loss for gradient attacks').choices(['ce', 'cw', 'dlr']))
    .option('--restarts <n>', 'random restarts (PGD, APGD, FAB)', parseIntArg('--restarts', 1, 1000))
    .option('--batch-size <n>', 'images per attack batch', parseIntArg('--batch-size', 1, 65536), 128)
    .option('--save-examples <dir>', 'write original/adversarial/difference PNGs of a few examples')
    .option(
      '--save-adversarial <file.npz>',
      'write the float32 adversarial set (clean_images, adv_images, labels, ' +
        'indices, clean/adv_predictions, success, eps, steps) as NumPy .npz',
    )
    .option('--records <file>', 'write per-sample records (.json or .csv)')
    .option('--report <file>', 'write a self-contained HTML report')
    .option('--data-dir <dir>', 'dataset cache directory (env MEDSHIELD_DATA)')
    .option(
      '--max-queries <n>',
      "query attacks: budget of target queries per image (default: the attack's own, 5000)",
      parseIntArg('--max-queries', 1, 1e9),
    )
    .option('--p-init <x>', 'square: initial fraction of pixels changed per window (default 0.05 L∞, 0.1 L2)')
    .option(
      '--surrogate <dirs>',
      'transfer: surrogate model director(ies), comma-separated (an ensemble averages their logits)',
    )
    .option('--base-attack <name>', 'transfer: the white-box attack run on the surrogate (default difgsm, µ = 1)')
    .option('--out <file>', 'also write the JSON result to FILE, after every ε (a failure keeps the finished part)');
  addTargetOptions(addImageSetOptions(cmd)).action(
    action(async (o: AttackCli) => {
      await startEngine(o);
      const nRuns = Math.max(o.eps.split(',').filter((t) => t.trim()).length, o.steps?.split(',').length ?? 0);
      let completed: Array<Record<string, unknown>> = [];
      let started = false; // --out keeps partial results once the attack runs (not for a refused spec)
      const partial: Array<{ eps: string; index: number; success: boolean; queries?: number }> = [];
      const command = ['medshield', ...process.argv.slice(2)]
        .map((a) => (/^[\w./,:=@+-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`))
        .join(' ');
      let r;
      try {
        r = await attack(
          {
            model: o.model,
            attack: o.attack,
            eps: o.eps,
            steps: o.steps,
            stepSize: o.stepSize,
            norm: o.norm,
            loss: o.loss,
            restarts: o.restarts,
            batchSize: o.batchSize,
            seed: o.seed,
            maxQueries: o.maxQueries,
            pInit: o.pInit,
            surrogates: o.surrogate,
            baseAttack: o.baseAttack,
            targeted: o.targeted,
            target: o.target,
            label: o.label,
            victim: victimRef(o),
            data: {
              dataset: o.dataset,
              split: o.split,
              limit: o.limit,
              dataDir: o.dataDir,
              splitRatios: o.splitRatios,
              splitSeed: o.splitSeed,
              skipBad: o.skipBad,
            },
            save: { records: o.records, examples: o.saveExamples, adversarial: o.saveAdversarial, report: o.report },
          },
          {
            progress: (label, total) => {
              started = true;
              return progress(label, total);
            },
            onNote: note,
            command,
            onRun: (done) => {
              completed = done;
              partial.length = 0;
              if (o.out) writeOut(o.out, done, nRuns);
            },
            onSample: (p) => partial.push(p),
          },
        );
      } catch (e) {
        if (o.out && started) {
          const msg = e instanceof Error ? e.message : String(e);
          writeOut(o.out, { error: msg, completed, partial }, nRuns);
          if (e instanceof MedshieldError) e.message = `${msg} (finished results kept in ${o.out})`;
        }
        throw e;
      }
      if (o.json) return printJson(r.json);
      process.stdout.write(attackText(r, o.report));
    }),
  );
}

/** Write JSON atomically (temp file + rename), so a crash never leaves half a file. */
function writeOut(file: string, value: unknown, nEps: number): void {
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const v = Array.isArray(value) && nEps === 1 && value.length === 1 ? value[0] : value;
  writeFileSync(`${file}.tmp`, JSON.stringify(v, null, 1) + '\n');
  renameSync(`${file}.tmp`, file);
}
