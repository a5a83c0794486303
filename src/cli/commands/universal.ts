/**
 * `medshield universal`: one universal adversarial perturbation (Moosavi-Dezfooli et al., CVPR 2017)
 * fitted on a seeded sample of the training split, and its fooling rate there and on held-out test images.
 */
import type { Command } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Option } from 'commander';
import { action, parseFloatArg, parseIntArg, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import { addImageSetOptions, DATASET_HELP, loadDataFor, withImageSet, type DataCli } from '../data-options.js';
import { loadModel } from '../../models/io.js';
import { parseEpsilon, checkEpsilon } from '../../attacks/epsilon.js';
import { fitUniversal, foolingRate } from '../../attacks/universal.js';
import { selectImages } from '../../eval/images.js';
import { encodePng } from '../../eval/examples.js';
import { unsupported } from '../../errors.js';
import { progress } from '../progress.js';

interface UniversalCli extends CommonOptions, DataCli {
  model: string; eps: string; norm: 'linf' | 'l2'; method: 'pgd' | 'deepfool'; fitLimit: number; limit?: number; maxIter: number;
  foolingRate: number; save?: string;
}

export default function register(program: Command): void {
  addImageSetOptions(withCommon(program.command('universal').description('universal adversarial perturbation (Moosavi-Dezfooli et al. 2017): one δ for the whole set, fooling rate on held-out images'))
    .option('--model <dir>', "model directory, or 'default' for the shipped model", 'default')
    .option('--dataset <name|path|dir|csv>', DATASET_HELP)
    .requiredOption('--eps <ε>', 'radius of the ε ball: 8/255 or 0.0314 (L∞), Euclidean length (L2)')
    .addOption(new Option('--norm <norm>', 'norm of the ε ball').choices(['linf', 'l2']).default('linf'))
    .addOption(new Option('--method <name>', "per-minibatch projected gradient steps (Shafahi et al. 2020) or per-image DeepFool steps (the paper's Algorithm 1)").choices(['pgd', 'deepfool']).default('pgd'))
    .option('--fit-limit <n>', 'fit δ on a seeded sample of N training images', parseIntArg('--fit-limit', 1, 1e9), 200)
    .option('--limit <n>', 'hold-out: a seeded sample of N test images (default: all)', parseIntArg('--limit', 1, 1e9))
    .option('--max-iter <n>', 'passes over the fit images', parseIntArg('--max-iter', 1, 1000), 10)
    .option('--fooling-rate <x>', 'stop once this fraction of the fit images is fooled (1 − ξ)', parseFloatArg('--fooling-rate', 0.01, 1), 0.8)
    .option('--save <file.png>', 'write δ as PNG (mid-grey = 0, amplified to the full grey range)')
    .option('--data-dir <dir>', 'dataset cache directory (env MEDSHIELD_DATA)'))
    .action(action(async (o: UniversalCli) => {
      const eps = parseEpsilon(o.eps);
      await startEngine(o);
      const model = await loadModel(o.model);
      if (!model.differentiable) throw unsupported(`fitting a universal perturbation needs gradients; '${o.model}' is a forward-only (ONNX) model`);
      const [h, w, c] = model.inputShape;
      checkEpsilon(eps, o.norm, h * w * c, o.eps);
      const data = await loadDataFor(o, model.card, { split: ['train', 'test'] });
      const split = data.splits.test;
      const fit = selectImages(data.splits.train, o.fitLimit, o.seed);
      const holdout = selectImages(split, o.limit, o.seed + 1);
      const bar = progress('universal', o.maxIter * fit.n);
      const r = await fitUniversal(model, fit, { eps, norm: o.norm, method: o.method, maxIter: o.maxIter, targetFoolingRate: o.foolingRate, seed: o.seed, onStep: (d) => bar.update(d) });
      bar.stop();
      const held = await foolingRate(model, holdout, r.delta);
      if (o.save) {
        let m = 0; for (const v of r.delta) m = Math.max(m, Math.abs(v));
        const img = Float32Array.from(r.delta, (v) => 0.5 + v / (2 * (m || 1)));
        mkdirSync(path.dirname(path.resolve(o.save)), { recursive: true });
        writeFileSync(o.save, encodePng(img, h, w, c, Math.max(1, Math.round(112 / h))));
      }
      const out = { eps, norm: o.norm, method: o.method, passes: r.passes, fit: { n: fit.n, foolingRate: r.foolingRate }, holdout: { n: holdout.n, foolingRate: held } };
      if (o.json) return printJson(withImageSet(out, data));
      process.stdout.write(`${model.card.name} on ${data.name}: universal ${o.norm} δ (${o.method}), ε=${o.eps}, ${r.passes} pass(es)\n`
        + `  fooling rate: fit ${r.foolingRate.toFixed(4)} (n=${fit.n}, train), hold-out ${held.toFixed(4)} (n=${holdout.n}, test)\n`
        + (o.save ? `  δ: ${o.save}\n` : ''));
    }));
}
