/**
 * Adaptive attacks (issue #10) on real PneumoniaMNIST chest X-rays with the fixture CNN: each beats
 * the non-adaptive attacker against the defence it is made for — BPDA against bit-depth reduction
 * and JPEG, EOT against random resize-and-pad and randomized smoothing, the joint loss against a
 * fitted detector, the APGD ensemble against the shipped adversarially trained CNN — and every
 * output stays inside the ε ball and [0,1].
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../src/engine/index.js';
import { selectImages } from '../src/data/images.js';
import { adversarialPairs, noisyCopies } from '../src/eval/detection.js';
import { runAttack } from '../src/eval/robustness.js';
import { pgd } from '../src/attacks/algorithms/pgd.js';
import { withinBall } from '../src/attacks/project.js';
import { getDefence } from '../src/defences/registry.js';
import { createDetector } from '../src/detectors/registry.js';
import { bpda } from '../src/attacks/adaptive/bpda.js';
import { eot } from '../src/attacks/adaptive/eot.js';
import { joint } from '../src/attacks/adaptive/joint.js';
import { apgdEnsemble } from '../src/attacks/adaptive/apgd-ensemble.js';
import { bpdaLearned } from '../src/attacks/adaptive/learned.js';
import { adaptiveFor, getAdaptiveAttack, chainAdaptive, hfc } from '../src/attacks/adaptive/index.js';
import { judgePipeline } from '../src/attacks/adaptive/pipeline.js';
import type { Pipeline } from '../src/attacks/adaptive/types.js';
import { loadClassifier } from '../src/models/io.js';
import { MedshieldError } from '../src/errors.js';
import { pneumonia } from './attacks-fixture.js';

await initEngine({ threads: 1 });
const fx = await pneumonia();
const model = fx.model;
const img = selectImages(fx.data.splits.test, 48, 21);
const eps = 4 / 255;
const d = 28 * 28;
const sum = (a: Uint8Array): number => a.reduce((s, v) => s + v, 0);
const nonAdaptive = (await runAttack(model, img, pgd, { eps, norm: 'linf', steps: 20, seed: 0 })).xAdv;

function pipeline(spec: string): Pipeline {
  const def = getDefence(spec);
  return { model, defence: def, deployed: def.wrap(model, { seed: 0 }) };
}

async function compare(
  p: Pipeline,
  attack: typeof bpda,
  opts: Record<string, unknown> = {},
): Promise<{ non: number; adaptive: number }> {
  const non = sum((await judgePipeline(p, nonAdaptive, img.labels)).fooled);
  const r = await attack.run(p, img.x, img.labels, { eps, steps: 20, seed: 0, ...opts });
  assert.ok(withinBall(img.x, r.xAdv, d, 'linf', eps), 'inside the ε ball and [0,1]');
  if (!p.defence?.randomized) {
    const check = await judgePipeline(p, r.xAdv, img.labels);
    assert.deepEqual(
      Array.from(check.fooled),
      Array.from(r.fooled),
      'the result reports what the deployed pipeline does',
    );
  }
  return { non, adaptive: sum(r.fooled) };
}

for (const spec of ['bitdepth:bits=3', 'jpeg:q=60', 'median:k=3']) {
  test(`BPDA beats the non-adaptive attacker against ${spec}`, async () => {
    const p = pipeline(spec);
    assert.equal(adaptiveFor(p).name, 'bpda');
    const r = await compare(p, bpda);
    assert.ok(r.adaptive > r.non, `${spec}: BPDA fooled ${r.adaptive}/${img.n}, non-adaptive ${r.non}/${img.n}`);
  });
}

test('BPDA through a learned approximation beats the non-adaptive attacker against the median filter', async () => {
  const p = pipeline('median:k=5');
  const r = await compare(p, bpdaLearned);
  assert.ok(r.adaptive > r.non, `median 5: learned BPDA fooled ${r.adaptive}/${img.n}, non-adaptive ${r.non}/${img.n}`);
});

test('EOT beats the non-adaptive attacker against random resize-and-pad', async () => {
  const p = pipeline('resizepad:max=1.3');
  assert.equal(adaptiveFor(p).name, 'eot');
  const r = await compare(p, eot, { samples: 4 });
  assert.ok(r.adaptive > r.non, `resizepad: EOT fooled ${r.adaptive}/${img.n}, non-adaptive ${r.non}/${img.n}`);
});

test('EOT over the Gaussian noise beats the non-adaptive attacker against randomized smoothing of the shipped noise-trained CNN', async () => {
  const base = await loadClassifier('noise-cnn');
  const def = getDefence('smoothing:sigma=0.25,n=32');
  const p: Pipeline = { model: base, defence: def, deployed: def.wrap(base, { seed: 0 }) };
  assert.equal(adaptiveFor(p).name, 'eot');
  const e = 16 / 255;
  const non = sum(
    (
      await judgePipeline(
        p,
        (
          await runAttack(base, img, pgd, { eps: e, norm: 'linf', steps: 20, seed: 0 })
        ).xAdv,
        img.labels,
      )
    ).fooled,
  );
  const r = await eot.run(p, img.x, img.labels, { eps: e, steps: 20, seed: 0, samples: 8 });
  assert.ok(withinBall(img.x, r.xAdv, d, 'linf', e));
  assert.ok(sum(r.fooled) > non, `smoothing: EOT fooled ${sum(r.fooled)}/${img.n}, non-adaptive ${non}/${img.n}`);
});

test('the joint classifier + detector loss evades a fitted KD+BU detector far more often than PGD', async () => {
  const fit = await adversarialPairs(model, selectImages(fx.data.splits.train, 160, 3), pgd, eps, 0);
  const det = createDetector('kd_bu');
  const data = {
    clean: fit.clean,
    labels: fit.labels,
    adversarial: fit.adversarial,
    advLabels: fit.labels,
    noisy: noisyCopies(fit, 0),
    seed: 0,
  };
  await det.fit(model, data);
  await det.prepareAdaptive!(model, data);
  const cal = Array.from(await det.score(model, selectImages(fx.data.splits.val, 100, 5).x, 100)).sort((a, b) => b - a);
  const p: Pipeline = { model, deployed: model, detector: { detector: det, threshold: cal[5], scale: 1 } };
  assert.equal(adaptiveFor(p).name, 'joint');
  const non = await judgePipeline(p, nonAdaptive, img.labels);
  const nonFU = sum(non.fooled.map((f, i) => f & non.undetected[i]));
  const r = await joint.run(p, img.x, img.labels, { eps, steps: 20, seed: 0 });
  assert.ok(withinBall(img.x, r.xAdv, d, 'linf', eps));
  assert.ok(sum(r.success) > nonFU, `joint fooled-and-undetected ${sum(r.success)}/${img.n} vs PGD ${nonFU}/${img.n}`);
  // chaining HFC after the joint loss never loses an image the joint loss solved
  const both = await chainAdaptive('joint+hfc', [joint, hfc]).run(p, img.x, img.labels, {
    eps,
    steps: 20,
    seed: 0,
    reference: { x: fit.clean, y: fit.labels },
  } as never);
  assert.ok(sum(both.success) >= sum(r.success), `joint+hfc ${sum(both.success)} vs joint ${sum(r.success)}`);
});

test('against the shipped adversarially trained CNN the APGD ensemble is at least as strong as PGD-20 and beats transfer', async () => {
  const at = await loadClassifier('adv-cnn');
  const x = selectImages(fx.data.splits.test, 40, 22);
  const p: Pipeline = { model: at, deployed: at };
  const e = 8 / 255;
  const pgdOn = sum(
    (await judgePipeline(p, (await runAttack(at, x, pgd, { eps: e, norm: 'linf', steps: 20, seed: 0 })).xAdv, x.labels))
      .fooled,
  );
  const transfer = sum(
    (
      await judgePipeline(
        p,
        (
          await runAttack(model, x, pgd, { eps: e, norm: 'linf', steps: 20, seed: 0 })
        ).xAdv,
        x.labels,
      )
    ).fooled,
  );
  const r = await apgdEnsemble.run(p, x.x, x.labels, { eps: e, steps: 40, restarts: 1, seed: 0 });
  assert.ok(withinBall(x.x, r.xAdv, d, 'linf', e));
  assert.ok(
    sum(r.fooled) >= pgdOn && sum(r.fooled) > transfer,
    `APGD ensemble ${sum(r.fooled)}/40, PGD-20 ${pgdOn}/40, transfer ${transfer}/40`,
  );
});

test('bad requests are refused in one line', async () => {
  await assert.rejects(() => bpda.run({ model, deployed: model }, img.x, img.labels, { eps }), MedshieldError);
  await assert.rejects(() => joint.run({ model, deployed: model }, img.x, img.labels, { eps }), MedshieldError);
  assert.throws(() => getAdaptiveAttack('nope'), /unknown adaptive attack 'nope'/);
});
