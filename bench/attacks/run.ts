/**
 * Attack benchmark and cross-check against PyTorch (Debian python3-torch).
 *
 *   npm run bench:attacks -- [--json] [--n 128] [--cnn DIR] [--resnet18 DIR] [--models cnn,resnet18] [--threads 2]
 *   [--attacks fgsm,pgd,cw]
 *
 * For the small CNN and ResNet-18 on PneumoniaMNIST test images (batch 128): time FGSM, PGD-20 L∞
 * (ε = 8/255, α = 2/255, random start, no early stop — the same work as the reference) and CW-L2
 * (c = 1, 50 Adam steps, one binary-search step — torchattacks' defaults) in medshield and in a
 * PyTorch reference (bench/attacks/torch_ref.py: torchattacks is not installable from Debian or npm,
 * so it transcribes torchattacks' FGSM/PGD/CW) that loads medshield's own weights, and compare robust
 * accuracies (they should agree within 2 points). The last line is
 *   {"cnn":{"pgd","fgsm","cw"},"resnet18":{…}}
 * each a speedup = PyTorch seconds / medshield seconds (≥ 1: medshield at least as fast). Both sides are
 * timed for the same product: the adversarial batch and which of its images fooled the model. A
 * medshield attack returns per-sample success (one forward pass at x_adv inside `run`), so the PyTorch
 * side's time includes scoring each adversarial batch too; its attack-only time is reported beside it
 * (`pytorch.attackOnlySeconds`) — for one-step FGSM that forward pass is a third of the work.
 * Without --cnn a width-32 CNN is trained for one epoch (cached in the temp folder); without
 * --resnet18 the shipped default model is used, or an untrained seeded ResNet-18 (speed only).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { initEngine, tf } from '../../src/engine/index.js';
import { loadDataset, sampleSplit } from '../../src/data/dataset.js';
import { newClassifier, fitClassifier } from '../../src/models/factory.js';
import { loadClassifier, saveModel, defaultModelDir } from '../../src/models/io.js';
import { ATTACKS } from '../../src/attacks/registry.js';
import { selectImages } from '../../src/data/images.js';
import { probabilities, judge } from '../../src/eval/robustness.js';
import { PACKAGE_ROOT } from '../../src/version.js';
import type { Classifier } from '../../src/models/model.js';
import type { AttackOptions } from '../../src/attacks/types.js';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const json = args.includes('--json');
const n = Number(flag('--n') ?? 128);
const threads = Number(flag('--threads') ?? 2);
/** --attacks fgsm,pgd,cw: a subset (on both sides). */
const only = (flag('--attacks') ?? 'fgsm,pgd,cw').split(',');
const log = (s: string): void => {
  process.stderr.write(s + '\n');
};

const EPS = 8 / 255;
const ALPHA = 2 / 255;
const STEPS = 20;
const CW_STEPS = 50;

async function model(kind: 'cnn' | 'resnet18'): Promise<{ dir: string; model: Classifier; trained: boolean }> {
  const given = flag(`--${kind}`);
  if (given) return { dir: given, model: await loadClassifier(given), trained: true };
  if (kind === 'resnet18' && existsSync(path.join(defaultModelDir(), 'model.json')))
    return { dir: defaultModelDir(), model: await loadClassifier('default'), trained: true };
  const dir = path.join(tmpdir(), `medshield-bench-${kind}-v1`);
  if (existsSync(path.join(dir, 'model-card.json')))
    return { dir, model: await loadClassifier(dir), trained: kind === 'cnn' };
  const data = await loadDataset('pneumoniamnist');
  const small = { ...data, splits: { ...data.splits, train: sampleSplit(data.splits.train, 2000, 0) } };
  const m = newClassifier(kind, small, { seed: 0 });
  if (kind === 'cnn') {
    log('training a width-32 CNN for one epoch (cached)…');
    await fitClassifier(m, small, { epochs: 1, batchSize: 64, seed: 0 });
  }
  mkdirSync(path.dirname(dir), { recursive: true });
  await saveModel(m, dir);
  return { dir, model: m, trained: kind === 'cnn' };
}

async function bench(kind: 'cnn' | 'resnet18'): Promise<Record<string, unknown>> {
  const { dir, model: m, trained } = await model(kind);
  const data = await loadDataset('pneumoniamnist');
  const img = selectImages(data.splits.test, n, 0);
  const work = mkdtempSync(path.join(tmpdir(), 'ms-bench-attacks-'));
  writeFileSync(path.join(work, 'x.bin'), Buffer.from(img.x.buffer));
  writeFileSync(path.join(work, 'y.bin'), Buffer.from(img.labels.buffer));
  const spec = {
    model: dir,
    images: path.join(work, 'x.bin'),
    labels: path.join(work, 'y.bin'),
    shape: [img.n, ...img.shape],
    eps: EPS,
    alpha: ALPHA,
    steps: STEPS,
    cwSteps: CW_STEPS,
    batch: 128,
    threads,
    attacks: only,
  };
  writeFileSync(path.join(work, 'spec.json'), JSON.stringify(spec));
  log(`${kind}: PyTorch reference on ${img.n} images…`);
  const py = spawnSync(
    '/usr/bin/python3',
    [path.join(PACKAGE_ROOT, 'bench', 'attacks', 'torch_ref.py'), path.join(work, 'spec.json')],
    { encoding: 'utf8', maxBuffer: 1 << 26 },
  );
  if (py.status !== 0) throw new Error(`torch reference failed: ${py.stderr.split('\n').filter(Boolean).slice(-1)[0]}`);
  const ref = JSON.parse(py.stdout.trim().split('\n').pop()!);
  // same network on both sides?
  const ours = tf.tidy(() => m.logits(tf.tensor4d(img.x.slice(0, 4 * 784), [4, 28, 28, 1])).dataSync());
  const maxLogitDiff = Math.max(...ref.logits.flat().map((v: number, i: number) => Math.abs(v - ours[i])));
  const cleanProbs = await probabilities(m, img.x, img.n);
  const acc = (p: Float32Array): number => judge(m, p, img.labels, img.n).correct.reduce((s, v) => s + v, 0) / img.n;
  const out: Record<string, unknown> = {
    model: kind,
    trained,
    n: img.n,
    clean: { medshield: acc(cleanProbs), pytorch: ref.clean },
    maxLogitDiff,
  };
  // PGD twice: with torchattacks' random start (the two sides draw different uniform noise, so their
  // robust accuracies differ by sampling noise, ~1 point per image at n = 128) and without it, where the
  // two computations are the same up to float rounding and must agree
  const allRuns: Array<[string, AttackOptions]> = [
    ['fgsm', { eps: EPS }],
    ['pgd', { eps: EPS, stepSize: ALPHA, steps: STEPS, randomStart: true, earlyStop: false, seed: 0 }],
    ['pgdNoRandomStart', { eps: EPS, stepSize: ALPHA, steps: STEPS, randomStart: false, earlyStop: false, seed: 0 }],
    ['cw', { eps: Math.sqrt(784), steps: CW_STEPS, binarySteps: 1, initialConst: 1 }],
  ];
  const runs = allRuns.filter(([name]) => only.includes(name === 'pgdNoRandomStart' ? 'pgd' : name));
  // warm-up (kernel set-up, weight upload) outside the timings, as PyTorch's first call is in the reference
  await ATTACKS.fgsm.run(m, img.x.slice(0, 8 * 784), img.labels.slice(0, 8), { eps: EPS });
  for (const [name, opts] of runs) {
    log(`${kind}: medshield ${name}…`);
    const t0 = performance.now();
    const xAdv = new Float32Array(img.x.length);
    for (let s = 0; s < img.n; s += 128) {
      const mm = Math.min(128, img.n - s);
      const r = await ATTACKS[name === 'pgdNoRandomStart' ? 'pgd' : name].run(
        m,
        img.x.slice(s * 784, (s + mm) * 784),
        img.labels.slice(s, s + mm),
        opts,
      );
      xAdv.set(r.xAdv, s * 784);
    }
    const sec = (performance.now() - t0) / 1000;
    const robust = acc(await probabilities(m, xAdv, img.n));
    out[name] = {
      medshield: { robustAccuracy: robust, seconds: sec, imagesPerSecond: img.n / sec },
      pytorch: {
        robustAccuracy: ref[name].robustAccuracy,
        seconds: ref[name].seconds,
        imagesPerSecond: img.n / ref[name].seconds,
        attackOnlySeconds: ref[name].attackSeconds,
      },
      agreeWithin2Points: Math.abs(robust - ref[name].robustAccuracy) <= 0.02 + 1e-9,
      speedup: ref[name].seconds / sec,
      speedupVsAttackOnly: ref[name].attackSeconds / sec,
    };
  }
  return out;
}

async function main(): Promise<void> {
  const engine = await initEngine({ threads });
  log(`medshield engine: ${engine.backend} (${engine.threads} threads); PyTorch: /usr/bin/python3, ${threads} threads`);
  const results: Record<string, Record<string, unknown>> = {};
  const kinds = (flag('--models') ?? 'cnn,resnet18').split(',') as Array<'cnn' | 'resnet18'>;
  for (const kind of kinds) {
    const r = await bench(kind);
    const arr = (r as { maxLogitDiff: number }).maxLogitDiff;
    results[kind] = r;
    if (!json) {
      log(`${kind} (${r.trained ? 'trained' : 'untrained'}, n=${r.n}): logits agree to ${arr.toExponential(1)}`);
      for (const a of ['fgsm', 'pgd', 'pgdNoRandomStart', 'cw'].filter((k) => r[k])) {
        const x = r[a] as {
          medshield: { robustAccuracy: number; imagesPerSecond: number };
          pytorch: { robustAccuracy: number; imagesPerSecond: number };
          speedup: number;
          speedupVsAttackOnly: number;
          agreeWithin2Points: boolean;
        };
        log(
          `  ${a.padEnd(16)} robust acc medshield ${x.medshield.robustAccuracy.toFixed(4)} vs PyTorch ` +
            `${x.pytorch.robustAccuracy.toFixed(4)} (${x.agreeWithin2Points ? 'agree' : 'DIFFER'}); ` +
            `${x.medshield.imagesPerSecond.toFixed(1)} vs ${x.pytorch.imagesPerSecond.toFixed(1)}` +
            ` img/s attacked and scored; speedup ${x.speedup.toFixed(2)} (` +
            `${x.speedupVsAttackOnly.toFixed(2)} against PyTorch's attack alone)`,
        );
      }
    }
  }
  if (json) process.stdout.write(JSON.stringify(results) + '\n');
  const last: Record<string, Record<string, number>> = {};
  for (const [k, r] of Object.entries(results))
    last[k] = Object.fromEntries(
      ['pgd', 'fgsm', 'cw']
        .filter((a) => r[a])
        .map((a) => [a, Math.round((r[a] as { speedup: number }).speedup * 100) / 100]),
    );
  process.stdout.write(JSON.stringify(last) + '\n');
}

main().catch((e) => {
  process.stderr.write(`bench:attacks: ${e instanceof Error ? e.message : e}\n`);
  process.exit(1);
});
