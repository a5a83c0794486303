/**
 * `medshield patch`: adversarial patches (Brown et al. 2017) as Finlayson et al. ran them —
 * white-box (trained on the model), black-box (trained on a surrogate) and the natural-patch
 * control, over a scale sweep; accuracy with each patch on held-out test images.
 */
import type { Command } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { action, parseIntArg, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import { addImageSetOptions, DATASET_HELP, loadDataFor, withImageSet, type DataCli } from '../data-options.js';
import { loadModel } from '../../models/io.js';
import { checkInputMatches } from '../../models/card.js';
import type { Model } from '../../models/model.js';
import { patchExperiment, checkPatchRequest, PATCH_MODES, type PatchMode, type PatchResult } from '../../attacks/patch.js';
import { selectImages } from '../../eval/images.js';
import type { Criterion } from '../../attacks/types.js';
import { encodePng } from '../../eval/examples.js';
import { badArgument } from '../../errors.js';
import { progress } from '../progress.js';

interface PatchCli extends CommonOptions, DataCli {
  model: string; mode: string; scale: string; surrogate?: string; limit?: number; fitLimit: number; steps: number;
  batchSize: number; target?: string; savePatch?: string; saveExamples?: string; report?: string;
}

function parseScales(text: string): number[] {
  return text.split(',').map((p) => p.trim()).filter(Boolean).map((p) => {
    const v = Number(p);
    if (!Number.isFinite(v) || v <= 0 || v > 1) throw badArgument(`--scale must be fractions of the image area in (0, 1], got '${p}'`);
    return v;
  });
}

function criterionFor(model: Model, target?: string): Criterion {
  if (target === undefined) return { kind: 'untargeted' };
  const k = model.classes.length;
  if (target === 'other') {
    if (model.task !== 'binary') throw badArgument(`--target other needs a binary task; give a class 0..${k - 1}`);
    return { kind: 'targeted', target: 'other' };
  }
  if (!/^\d+$/.test(target) || Number(target) >= k) throw badArgument(`--target must be a class between 0 and ${k - 1} or 'other', got '${target}'`);
  if (model.task === 'multilabel') throw badArgument('targeted patches on multi-label heads are not supported');
  return { kind: 'targeted', target: Number(target) };
}

/** The files --save-patch writes: file.png, or file-<mode>-<scale>[-on-<class>|-to-<class>].png when there are several patches. */
function patchFiles(file: string, runs: PatchResult[], classes: string[]): Array<{ file: string; patch: Float32Array; side: number; channels: number }> {
  const ext = path.extname(file) || '.png'; const stem = path.extname(file) ? file.slice(0, -path.extname(file).length) : file;
  const many = runs.length > 1 || runs.some((r) => r.patches.length > 1);
  const tag = (v: string): string => v.replace(/[^\w.-]+/g, '_');
  return runs.flatMap((r) => r.patches.map((p) => {
    const group = r.patches.length > 1 ? `-${r.groupBy === 'target' ? 'to' : 'on'}-${tag(classes[p.group] ?? String(p.group))}` : '';
    return { file: many ? `${stem}-${r.mode}-${r.scale}${group}${ext}` : file, patch: p.patch, side: r.patchSize, channels: r.channels };
  }));
}

function saveExamples(dir: string, runs: PatchResult[], x: Float32Array, shape: [number, number, number], classes: string[], labels: Int32Array, count = 4): void {
  mkdirSync(dir, { recursive: true });
  const [h, w, c] = shape; const d = h * w * c; const up = Math.max(1, Math.round(112 / h));
  const name = (v: number | number[]): string => (Array.isArray(v) ? v.map((b, j) => (b ? classes[j] : null)).filter(Boolean).join(', ') || 'none' : classes[v] ?? String(v));
  const lw = labels.length / (x.length / d);
  const index = [];
  for (const r of runs) {
    const ev = r.evaluation;
    for (let i = 0; i < Math.min(count, ev.n); i++) {
      const base = `${r.mode}-scale${r.scale}-${String(i).padStart(3, '0')}`;
      writeFileSync(path.join(dir, `${base}-original.png`), encodePng(x.subarray(i * d, (i + 1) * d), h, w, c, up));
      writeFileSync(path.join(dir, `${base}-patched.png`), encodePng(ev.xPatched.subarray(i * d, (i + 1) * d), h, w, c, up));
      index.push({ mode: r.mode, scale: r.scale, image: i, label: name(lw > 1 ? Array.from(labels.subarray(i * lw, (i + 1) * lw)) : labels[i]), cleanPrediction: name(ev.cleanPred[i]), patchedPrediction: name(ev.patchedPred[i]), placement: ev.placements[i], files: [`${base}-original.png`, `${base}-patched.png`] });
    }
  }
  writeFileSync(path.join(dir, 'index.json'), JSON.stringify(index, null, 2) + '\n');
}

export default function register(program: Command): void {
  addImageSetOptions(withCommon(program.command('patch').description('adversarial patch (Brown et al. 2017), one per class (untargeted) or per target: white-box, black-box (surrogate) and natural-patch control over a scale sweep'))
    .option('--model <dir>', "model directory, or 'default' for the shipped model", 'default')
    .option('--dataset <name|path|dir|csv>', DATASET_HELP)
    .option('--mode <list>', `patch kinds, comma-separated: ${PATCH_MODES.join(', ')}`, 'whitebox,natural')
    .option('--scale <list>', 'patch area as a fraction of the image, comma-separated (e.g. 0.1,0.2,0.4)', '0.4')
    .option('--surrogate <dir>', 'independently trained model the black-box patch is crafted on')
    .option('--limit <n>', 'evaluate on a seeded sample of N test images (default: all)', parseIntArg('--limit', 1, 1e9))
    .option('--fit-limit <n>', 'train the patch on a seeded sample of N training images', parseIntArg('--fit-limit', 1, 1e9), 1000)
    .option('--steps <n>', 'optimisation steps (batches of EOT samples)', parseIntArg('--steps', 1, 1e6), 250)
    .option('--batch-size <n>', 'images per optimisation step', parseIntArg('--batch-size', 1, 4096), 32)
    .option('--target <class>', "targeted patch: a class index, or 'other' on binary tasks (default untargeted)")
    .option('--save-patch <file.png>', 'write the patch as PNG (several patches: -<mode>-<scale>[-on-<class>|-to-<class>] is added to the name)')
    .option('--save-examples <dir>', 'write a few original/patched PNGs per patch and an index.json')
    .option('--report <file.html>', 'write a self-contained HTML report (results, curve over scales, patches, examples)')
    .option('--data-dir <dir>', 'dataset cache directory (env MEDSHIELD_DATA)'))
    .action(action(async (o: PatchCli) => {
      const modes = o.mode.split(',').map((m) => m.trim()).filter(Boolean) as PatchMode[];
      for (const m of modes) if (!PATCH_MODES.includes(m)) throw badArgument(`unknown --mode '${m}' (choose ${PATCH_MODES.join(', ')})`);
      const scales = parseScales(o.scale);
      if (modes.includes('blackbox') && !o.surrogate) throw badArgument('--mode blackbox needs --surrogate DIR (an independently trained model to craft the patch on)');
      await startEngine(o);
      const model = await loadModel(o.model);
      const surrogate = modes.includes('blackbox') && o.surrogate ? await loadModel(o.surrogate) : null;
      checkPatchRequest(model, surrogate, modes, scales);
      const criterion = criterionFor(model, o.target);
      const data = await loadDataFor(o, model.card, { split: ['train', 'test'] });
      const split = data.splits.test;
      const shape = { height: split.height, width: split.width, channels: split.channels, classes: data.info.classes.length, task: data.info.task, name: data.name };
      if (surrogate) checkInputMatches(surrogate.card, shape);
      const bar = progress('patch', 100 * modes.length * scales.length);
      const test = selectImages(split, o.limit, o.seed + 1);
      const runs = await patchExperiment(model, surrogate, data, {
        modes, scales, testImages: test, fitLimit: o.fitLimit, steps: o.steps, batchSize: o.batchSize, seed: o.seed, criterion,
        onProgress: (what, done) => bar.update(Math.round(100 * done), { run: what }),
      });
      bar.stop();
      const files = o.savePatch ? patchFiles(o.savePatch, runs, model.classes) : [];
      for (const f of files) {
        mkdirSync(path.dirname(path.resolve(f.file)), { recursive: true });
        writeFileSync(f.file, encodePng(f.patch, f.side, f.side, f.channels));
      }
      if (o.saveExamples) saveExamples(o.saveExamples, runs, test.x, test.shape, model.classes, test.labels);
      if (o.report) {
        const { writePatchReport } = await import('../../report/patch.js');
        await writePatchReport(o.report, { model: model.card.name, surrogate: surrogate?.card.name, dataset: data.name, classes: model.classes, fitImages: Math.min(o.fitLimit, data.splits.train.n), runs, test, seed: o.seed, command: ['medshield', ...process.argv.slice(2)].join(' ') });
      }
      const rows = runs.map(({ mode, scale, n, cleanAccuracy, patchedAccuracy, attackSuccessRate }) => ({ mode, scale, n, cleanAccuracy, patchedAccuracy, attackSuccessRate }));
      if (o.json) return printJson(withImageSet(rows, data));
      process.stdout.write(`${model.card.name} on ${data.name}/test (n=${rows[0]?.n ?? 0}), patches made from ${Math.min(o.fitLimit, data.splits.train.n)} training images${surrogate ? `, surrogate ${surrogate.card.name}` : ''}:\n`);
      for (const r of rows) {
        process.stdout.write(`  ${r.mode.padEnd(8)} scale ${r.scale}: clean ${r.cleanAccuracy.toFixed(4)} → patched ${r.patchedAccuracy.toFixed(4)}, success ${r.attackSuccessRate === null ? '—' : r.attackSuccessRate.toFixed(4)}\n`);
      }
      if (files.length) process.stdout.write(`  patches: ${files.map((f) => f.file).join(', ')}\n`);
    }));
}
