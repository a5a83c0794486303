/**
 * `medshield patch`: adversarial patches (Brown et al. 2017) as Finlayson et al. ran them —
 * white-box (trained on the model), black-box (trained on a surrogate) and the natural-patch
 * control, over a scale sweep; accuracy with each patch on held-out test images.
 * The work is the library's `patch` verb (src/api/patch.ts).
 */
import type { Command } from 'commander';
import { action, commandLine, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import { addFlags, pick } from '../flags.js';
import * as D from '../data-options.js';
import { patch, patchText, PATCH_MODES, type PatchSpec } from '../../api/patch.js';
import { progress, note } from '../progress.js';

interface PatchCli extends CommonOptions, D.DataCli {
  mode: string;
  scale: string;
  savePatch?: string;
  saveExamples?: string;
  report?: string;
}

const FLAGS = {
  '--mode <list>; default whitebox,natural': `patch kinds, comma-separated: ${PATCH_MODES.join(', ')}`,
  '--scale <list>; default 0.4': 'patch area as a fraction of the image, comma-separated (e.g. 0.1,0.2,0.4)',
  '--surrogate <dir>': 'independently trained model the black-box patch is crafted on',
  '--limit <n>; int 1..1e9': 'evaluate on a seeded sample of N test images (default: all)',
  '--fit-limit <n>; int 1..1e9; default 1000': 'train the patch on a seeded sample of N training images',
  '--steps <n>; int 1..1e6; default 250': 'optimisation steps (batches of EOT samples)',
  '--batch-size <n>; int 1..4096; default 32': 'images per optimisation step',
  '--target <class>': "targeted patch: a class index, or 'other' on binary tasks (default untargeted)",
  '--save-patch <file.png>':
    'write the patch as PNG (several patches: -<mode>-<scale>[-on-<class>|-to-<class>] is added to the name)',
  '--save-examples <dir>': 'write a few original/patched PNGs per patch and an index.json',
  '--report <file.html>': 'write a self-contained HTML report (results, curve over scales, patches, examples)',
};

export default function register(program: Command): void {
  const about =
    'adversarial patch (Brown et al. 2017), one per class (untargeted) or per target: ' +
    'white-box, black-box (surrogate) and natural-patch control over a scale sweep';
  const cmd = withCommon(program.command('patch').description(about));
  addFlags(cmd, D.MODEL_DATA_FLAGS, FLAGS, D.DATA_DIR_FLAG, D.IMAGE_SET_FLAGS).action(
    action(async (o: PatchCli) => {
      await startEngine(o);
      const spec: PatchSpec = {
        ...pick<PatchSpec>(o, 'model'),
        modes: o.mode,
        scales: o.scale,
        ...pick(o, 'surrogate fitLimit steps batchSize target seed'),
        save: { patch: o.savePatch, examples: o.saveExamples, report: o.report },
        data: D.dataRef(o),
      };
      const r = await patch(spec, { progress, onNote: note, command: commandLine() });
      if (o.json) return printJson(r.json);
      process.stdout.write(patchText(r));
    }),
  );
}
