import type { Command } from 'commander';
import { action, parseIntArg, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import { loadDataset, labelCounts } from '../../data/dataset.js';
import { loadClassifier } from '../../models/io.js';
import { evaluateSplit } from '../../models/train.js';
import { predictions, round } from '../../eval/metrics.js';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { surrogateModelDir } from '../../models/io.js';
import { ATTACKS } from '../../attacks/registry.js';
import { ModelTarget } from '../../attacks/target.js';
import { epsilonSweep } from '../../eval/sweep.js';
import { selectImages } from '../../eval/images.js';
import type { AttackSummary } from '../../eval/robustness.js';
import { progress, activity, note } from '../progress.js';
import { detectorAct } from '../../eval/story.js';
import { encodePng } from '../../eval/examples.js';
import { tamperDemo } from '../../provenance/tamper-demo.js';

/**
 * The main job on the embedded default: the shipped ResNet-18 and the shipped PneumoniaMNIST —
 * clean accuracy, then how easily its diagnoses flip: white-box PGD, a score-based black box
 * (Square through the model's probabilities, counted queries) and a transfer attack from the
 * shipped, independently trained surrogate. Then the story of Amit et al.: a detector (KD+BU, fitted
 * Ma et al.'s way) catches the PGD films; an attacker who knows the detector evades it (joint loss, then
 * HFC); and a signed-image pipeline rejects the tampered film (PNG signature from a throw-away test CA).
 */

const DEMO_ATTACK_IMAGES = 128;
export default function register(program: Command): void {
  withCommon(program.command('demo').description('run the main job on the embedded default model and data'))
    .option('--attack-images <n>', 'test films attacked in the attack stage', parseIntArg('--attack-images', 1, 100000), DEMO_ATTACK_IMAGES)
    .action(action(async (o: CommonOptions & { attackImages: number }) => {
      const t0 = Date.now();
      const engine = await startEngine(o);
      const model = await loadClassifier('default');
      const data = await loadDataset(model.card.dataset.name);
      const test = data.splits.test;
      note(`medshield: demo: evaluating ${model.card.name} on ${test.n} ${data.name} test films`);
      const r = await evaluateSplit(model, test);
      const k = model.classes.length;
      const pred = predictions({ probs: r.probs, n: test.n, k }, model.task);
      const counts = labelCounts(test, k);
      const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
      for (let i = 0; i < test.n; i++) confusion[test.labels[i]][pred[i]]++;
      const card = model.card;
      // attack stage: a seeded sample of test images
      const img = selectImages(test, Math.min(o.attackImages, test.n), o.seed);
      const runs: AttackSummary[] = [];
      const bar = progress('attacks', 4 * img.n);
      let done = 0;
      const step = (d: number, t: number): void => bar.update(Math.round(done + (d / t) * img.n));
      let xPgd8 = img.x;
      for (const e of [2, 8]) {
        const ev = await epsilonSweep(model, img, ATTACKS.pgd, [{ value: e / 255, text: `${e}/255` }], { steps: 20, seed: o.seed }, { onProgress: (_i, d, t) => step(d, t) });
        runs.push(...ev.map((x) => x.summary));
        if (e === 8) xPgd8 = ev[0].xAdv;
        done += img.n;
      }
      runs.push(...(await epsilonSweep(new ModelTarget(model), img, ATTACKS.square, [{ value: 8 / 255, text: '8/255' }], { maxQueries: 1000, seed: o.seed }, { onProgress: (_i, d, t) => step(d, t) })).map((x) => x.summary));
      done += img.n;
      const surrogate = existsSync(path.join(surrogateModelDir(), 'model.json')) ? await loadClassifier('surrogate') : null;
      if (surrogate) runs.push(...(await epsilonSweep(new ModelTarget(model), img, ATTACKS.transfer, [{ value: 8 / 255, text: '8/255' }], { steps: 20, seed: o.seed, surrogates: [surrogate], baseAttack: 'pgd' }, { onProgress: (_i, d, t) => step(d, t) })).map((x) => x.summary));
      bar.stop();
      // detect → adaptive attack → signatures
      const stages = activity('demo');
      stages.stage('fitting a detector and running the informed attacker …');
      // 200 fit and 200 calibration films for the default 128 attacked films (fewer for a small --attack-images)
      const fitN = Math.min(200, Math.max(48, 2 * img.n));
      const act = await detectorAct(model, selectImages(data.splits.train, fitN, o.seed + 1), selectImages(data.splits.val, fitN, o.seed + 2), img, xPgd8, 8 / 255, o.seed, undefined, undefined, (what) => stages.stage(what));
      stages.stop();
      const [h, w, c] = img.shape; const dd = h * w * c;
      const exIndex = act.example?.index ?? 0;
      const png = (x: Float32Array): Buffer => encodePng(x, h, w, c);
      const signed = await tamperDemo(png(img.x.subarray(exIndex * dd, (exIndex + 1) * dd)), png(act.example?.xAdv ?? xPgd8.subarray(exIndex * dd, (exIndex + 1) * dd)));
      const attacks = runs.map((r) => ({ attack: r.attack, threatModel: r.threatModel, eps: r.epsText, n: r.n, cleanAccuracy: r.cleanAccuracy, robustAccuracy: r.robustAccuracy, attackSuccessRate: r.attackSuccessRate, ...(r.medianQueries !== undefined ? { medianQueries: r.medianQueries } : {}) }));
      const summary = {
        model: { name: card.name, architecture: card.architecture.name, width: card.architecture.width, parameters: card.architecture.parameters, cardTest: card.metrics.test },
        dataset: { name: data.name, split: 'test', n: test.n, classCounts: Object.fromEntries(model.classes.map((c, i) => [c, counts[i]])) },
        test: { accuracy: round(r.accuracy), auc: round(r.auc) },
        confusion: { rows: 'true class', columns: 'predicted class', classes: model.classes, matrix: confusion },
        attacks,
        detection: { detector: act.detector, threshold: act.threshold, fitImages: fitN, calibrationImages: fitN, nonAdaptive: act.nonAdaptive },
        adaptive: act.adaptive,
        signatures: { film: img.indices?.[exIndex] ?? exIndex, ...signed },
        backend: engine.backend,
        seconds: round((Date.now() - t0) / 1000, 1),
      };
      if (o.json) return printJson(summary);
      const lines = [
        'medshield demo — a medical-image classifier and its numbers',
        '',
        `Model    ${card.name}: ${card.architecture.name} (width ${card.architecture.width}, ${(card.architecture.parameters / 1e6).toFixed(2)} M parameters), trained by 'medshield train' (seed ${card.training?.seed ?? '?'}, ${card.training?.epochsRun ?? '?'} epochs)`,
        `Data     ${data.name} test split: ${test.n} paediatric chest X-rays at ${test.height}×${test.width} px (${model.classes.map((c, i) => `${counts[i]} ${c}`).join(', ')})`,
        `         MedMNIST v2 (Yang et al. 2023, CC BY 4.0) from Kermany et al. 2018`,
        `Result   accuracy ${r.accuracy.toFixed(4)}, AUC ${r.auc.toFixed(4)}  (model card: ${card.metrics.test?.accuracy} / ${card.metrics.test?.auc})`,
        '',
        `         predicted → ${model.classes.map((c) => c.padStart(10)).join('')}`,
        ...confusion.map((row, i) => `         ${model.classes[i].padStart(9)}   ${row.map((v) => String(v).padStart(10)).join('')}`),
        '',
        `Of ${counts[1] ?? 0} pneumonia cases the model found ${confusion[1]?.[1] ?? 0}; of ${counts[0]} normal films it called ${confusion[0][1]} pneumonia.`,
        '',
        `Attacks  on ${img.n} test films (seed ${o.seed}); accuracy clean → under attack:`,
        ...runs.map((r) => `         ${WHO[r.attack] ?? r.attack} at ε = ${r.epsText} (${Math.round(r.eps * 255)} of 255 grey levels): ${r.cleanAccuracy.toFixed(3)} → ${r.robustAccuracy.toFixed(3)}${r.medianQueries !== undefined && r.attack !== 'transfer' ? ` (median ${r.medianQueries ?? '—'} queries to flip one)` : ''}`),
        `         Reproduce: medshield attack --model default --attack pgd|square|transfer … (docs/attacks.md, docs/blackbox.md)`,
        '',
        `Detect   ${act.detector} detector (Feinman et al.), fitted on ${fitN} train films and their PGD examples; alarm set for 5 % false alarms on ${fitN} clean validation films.`,
        `         It raises the alarm on ${pct(act.nonAdaptive.caught)} of the PGD-8/255 films that fooled the model (AUC ${act.nonAdaptive.detectionAuc ?? '—'}); fooled and unnoticed: ${pct(act.nonAdaptive.fooledAndUndetected)} of the films the model got right.`,
        `Adaptive An attacker who knows the detector (${act.adaptive.attack}, same ε): fooled and unnoticed ${pct(act.adaptive.fooledAndUndetected)} of the films the model got right (alarm on ${pct(act.adaptive.caught)} of its successes).`,
        `         Amit et al.: detectors that look near-perfect fall to an informed attacker. Full table: medshield scorecard --quick --report scorecard.html`,
        `Signed   The scanner signs film #${summary.signatures.film} (ECDSA P-256, throw-away test CA made for this run): untouched film ${signed.original.valid ? 'VERIFIES' : 'fails'}; the same file with the attacker's pixels and the original signature is ${signed.tampered.valid ? 'ACCEPTED (unexpected)' : 'REJECTED'} (${signed.tampered.reason}).`,
        `         Signatures from scanner to model stop what detectors cannot: medshield dicom sign / verify, medshield gateway.`,
        '',
        `Backend ${engine.backend}; ${summary.seconds} s. Reproduce: medshield eval --model default --dataset ${data.name} --split test`,
      ];
      process.stdout.write(lines.join('\n') + '\n');
    }));
}

const pct = (v: number | null): string => (v === null ? '—' : `${(100 * v).toFixed(1)} %`);

const WHO: Record<string, string> = {
  pgd: 'white-box PGD-20 (attacker has the weights)',
  square: 'black-box Square, 1000 queries (sees probabilities only)',
  transfer: 'transfer from an independently trained model',
};
