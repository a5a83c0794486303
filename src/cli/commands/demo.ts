import type { Command } from 'commander';
import { action, parseIntArg, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import { loadDataset, labelCounts } from '../../data/dataset.js';
import { loadClassifier } from '../../models/io.js';
import { predictions, round } from '../../eval/metrics.js';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { surrogateModelDir } from '../../models/io.js';
import { selectImages } from '../../eval/images.js';
import { activity, progress, note } from '../progress.js';
import { calibrateDemo, planDemo, runDemo, DEMO_BUDGET_SECONDS, DEMO_DEFAULT_IMAGES } from '../../eval/story.js';
import { encodePng } from '../../eval/examples.js';
import { formatDuration as minutes } from '../../eval/cost.js';
import { tamperDemo } from '../../provenance/tamper-demo.js';

/**
 * The main job on the embedded default: the shipped ResNet-18 and the shipped PneumoniaMNIST —
 * clean accuracy, then how easily its diagnoses flip: white-box PGD, a score-based black box
 * (Square through the model's probabilities, counted queries) and a transfer attack from the
 * shipped, independently trained surrogate. Then the story of Amit et al.: a detector (KD+BU, fitted
 * Ma et al.'s way) catches the PGD films; an attacker who knows the detector evades it (joint loss, then
 * HFC); and a signed-image pipeline rejects the tampered film (PNG signature from a throw-away test CA).
 */

export default function register(program: Command): void {
  withCommon(program.command('demo').description('run the main job on the embedded default model and data (its plan and estimated time first)'))
    .option('--attack-images <n>', `test films attacked in the attack stage (default ${DEMO_DEFAULT_IMAGES}, fewer when the calibration says the backend is too slow for ${DEMO_BUDGET_SECONDS / 60} min)`, parseIntArg('--attack-images', 1, 100000))
    .option('--full', `attack ${DEMO_DEFAULT_IMAGES} films whatever the estimate`)
    .action(action(async (o: CommonOptions & { attackImages?: number; full?: boolean }) => {
      const t0 = Date.now();
      const engine = await startEngine(o);
      const model = await loadClassifier('default');
      const data = await loadDataset(model.card.dataset.name);
      const test = data.splits.test;
      const surrogate = existsSync(path.join(surrogateModelDir(), 'model.json')) ? await loadClassifier('surrogate') : null;
      const cal = await calibrateDemo(model, selectImages(test, 32, o.seed), engine.backend);
      const plan = planDemo(cal, { requested: o.attackImages, full: o.full, testN: test.n, withTransfer: !!surrogate });
      note(`plan (${engine.backend}: ${(cal.gradientSecondsPerImage * 1000).toFixed(1)} ms per film for one forward+backward pass): about ${minutes(plan.estimatedSeconds)} in ${plan.stages.length} stages`);
      for (const st of plan.stages) note(`  ${st.stage.padEnd(18)} ${String(st.images).padStart(4)} films  ~${minutes(st.estimatedSeconds)}`);
      if (plan.scaled) note(`  this backend is slow: attacking ${plan.attackImages} of the default ${plan.requestedAttackImages} films${plan.squareQueries < 1000 ? ` (Square with ${plan.squareQueries} queries, not 1000)` : ''} ${plan.fits ? `to finish in about ${DEMO_BUDGET_SECONDS / 60} min` : '(the smallest plan)'}; the full run: medshield demo --full (or --attack-images N)`);
      if (!plan.fits && o.attackImages === undefined && !o.full) note(`  even the smallest plan is estimated above ${DEMO_BUDGET_SECONDS / 60} min on this backend${engine.backend === 'native' ? '' : ' (the native oneDNN backend is several times faster: apt-get install libdnnl-dev, then npm ci)'}`);
      let bar: ReturnType<typeof progress> | null = null;
      let steps: ReturnType<typeof activity> | null = null;
      const run = await runDemo(model, data, surrogate, plan, o.seed, {
        onStage: (st) => { bar?.stop(); bar = null; note(`${st.stage}: ${st.images} films (~${minutes(st.estimatedSeconds)}) …`); },
        onStageDone: (st) => { bar?.stop(); bar = null; note(`  ${st.stage} done in ${minutes(st.seconds)} (estimated ${minutes(st.estimatedSeconds)})`); },
        onProgress: (stage, d, t) => { bar ??= progress(stage, t); bar.update(Math.round(d)); },
        onStep: (what) => { steps ??= activity('demo'); steps.stage(what); },   // plain lines + the 30-s heartbeat
      });
      (steps as ReturnType<typeof activity> | null)?.stop();
      (bar as ReturnType<typeof progress> | null)?.stop();
      const { img, runs, xPgd8, act } = run; const r = run.test;
      const fitN = plan.fitImages;
      const k = model.classes.length;
      const pred = predictions({ probs: r.probs, n: test.n, k }, model.task);
      const counts = labelCounts(test, k);
      const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
      for (let i = 0; i < test.n; i++) confusion[test.labels[i]][pred[i]]++;
      const card = model.card;
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
        plan: { attackImages: plan.attackImages, fitImages: plan.fitImages, squareQueries: plan.squareQueries, requestedAttackImages: plan.requestedAttackImages, scaled: plan.scaled, fits: plan.fits, estimatedSeconds: plan.estimatedSeconds, calibration: plan.calibration },
        stages: run.stages,
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
        ...runs.map((r) => `         ${r.attack === 'square' ? `black-box Square, ${plan.squareQueries} queries (sees probabilities only)` : WHO[r.attack] ?? r.attack} at ε = ${r.epsText} (${Math.round(r.eps * 255)} of 255 grey levels): ${r.cleanAccuracy.toFixed(3)} → ${r.robustAccuracy.toFixed(3)}${r.medianQueries !== undefined && r.attack !== 'transfer' ? ` (median ${r.medianQueries ?? '—'} queries to flip one)` : ''}`),
        `         Reproduce: medshield attack --model default --attack pgd|square|transfer … (docs/attacks.md, docs/blackbox.md)`,
        '',
        `Detect   ${act.detector} detector (Feinman et al.), fitted on ${fitN} train films and their PGD examples; alarm set for 5 % false alarms on ${fitN} clean validation films.`,
        `         It raises the alarm on ${pct(act.nonAdaptive.caught)} of the PGD-8/255 films that fooled the model (AUC ${act.nonAdaptive.detectionAuc ?? '—'}); fooled and unnoticed: ${pct(act.nonAdaptive.fooledAndUndetected)} of the films the model got right.`,
        `Adaptive An attacker who knows the detector (${act.adaptive.attack}, same ε): fooled and unnoticed ${pct(act.adaptive.fooledAndUndetected)} of the films the model got right (alarm on ${pct(act.adaptive.caught)} of its successes).`,
        `         Amit et al.: detectors that look near-perfect fall to an informed attacker. Full table: medshield scorecard --quick --report scorecard.html`,
        `Signed   The scanner signs film #${summary.signatures.film} (ECDSA P-256, throw-away test CA made for this run): untouched film ${signed.original.valid ? 'VERIFIES' : 'fails'}; the same file with the attacker's pixels and the original signature is ${signed.tampered.valid ? 'ACCEPTED (unexpected)' : 'REJECTED'} (${signed.tampered.reason}).`,
        `         Signatures from scanner to model stop what detectors cannot: medshield dicom sign / verify, medshield gateway.`,
        '',
        ...(plan.scaled ? [`Sample   ${img.n} of ${plan.requestedAttackImages} films attacked${plan.squareQueries < 1000 ? `, Square with ${plan.squareQueries} queries,` : ''} to fit ${DEMO_BUDGET_SECONDS / 60} min on this backend; the full run: medshield demo --full`] : []),
        `Backend ${engine.backend}; ${summary.seconds} s (estimated ${plan.estimatedSeconds} s). Reproduce: medshield eval --model default --dataset ${data.name} --split test`,
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
