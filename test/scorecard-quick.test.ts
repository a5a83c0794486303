/**
 * What `scorecard --quick` saves without changing a verdict (issue #24), on real PneumoniaMNIST films and the
 * fixture CNN: one shared forward pass gives the logits, features and input gradient of separate passes; a detector
 * row whose adaptive attack is stopped once the row is broken gets the verdict of the whole attack, with fewer
 * passes; the pass counts land in the row.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine, tf } from '../src/engine/index.js';
import { selectImages } from '../src/data/images.js';
import { adversarialPairs, thresholdAt5Fpr } from '../src/eval/detection.js';
import { runAttack } from '../src/eval/robustness.js';
import { pgd } from '../src/attacks/algorithms/pgd.js';
import { jointThenHfc } from '../src/attacks/adaptive/index.js';
import { judgePipeline } from '../src/attacks/adaptive/pipeline.js';
import type { Pipeline } from '../src/attacks/adaptive/types.js';
import { createDetector } from '../src/detectors/registry.js';
import { stdDev } from '../src/models/metrics.js';
import { measure, scoreEntry } from '../src/eval/scorecard.js';
import { WorkCounter } from '../src/eval/scorecard-work.js';
import type { ScorecardRow } from '../src/eval/scorecard-types.js';
import { pneumonia } from './attacks-fixture.js';

await initEngine({ threads: 1 });
const fx = await pneumonia();
const [h, w, c] = fx.model.inputShape;
const eps = 8 / 255;

test('one shared forward pass: the logits, every feature layer and the input gradient of separate passes', () => {
  const counter = new WorkCounter();
  const shared = counter.wrap(fx.model, { share: true });
  const img = selectImages(fx.data.splits.test, 8, 2);
  const x = tf.tensor4d(img.x, [img.n, h, w, c]);
  // what an adaptive attack on a detector differentiates: the logits and every feature layer of the iterate
  const objective = (m: typeof fx.model) => (v: tf.Tensor) =>
    tf.tidy(() => {
      let s = tf.sum(m.logits(v as tf.Tensor4D));
      for (const l of m.featureNames) s = tf.add(s, tf.mean(m.features(v as tf.Tensor4D, l)));
      return s as tf.Scalar;
    });
  const g0 = tf.grad(objective(fx.model))(x);
  counter.take();
  const g1 = tf.grad(objective(shared))(x);
  const counted = counter.take()[fx.model.card.name];
  assert.equal(counted.gradientImages, img.n, 'one pass of the network for the logits and all its layers');
  assert.equal(counted.calls, 1);
  const [a, b] = [g0.dataSync(), g1.dataSync()];
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(a[i]));
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
  }
  assert.ok(scale > 0 && diff <= 1e-5 * scale, `gradient differs by ${diff} (scale ${scale})`);
  // outside a gradient tape nothing is shared: the same values, each call counted
  const z0 = fx.model.logits(x).dataSync();
  const z1 = shared.logits(x).dataSync();
  assert.deepEqual(Array.from(z1), Array.from(z0));
  assert.equal(counter.take()[fx.model.card.name].forwardImages, img.n);
  tf.dispose([x, g0, g1]);
});

test('the wrapped model: probs() of a shared iterate runs nothing new; a repeated predictProbs is served from the last call', async () => {
  const counter = new WorkCounter();
  const m = counter.wrap(fx.model, { share: true });
  const img = selectImages(fx.data.splits.test, 8, 3);
  const x = tf.tensor4d(img.x, [img.n, h, w, c]);
  const g = tf.grad((v: tf.Tensor) => tf.add(tf.sum(m.logits(v as tf.Tensor4D)), tf.sum(m.probs(v as tf.Tensor4D))))(x);
  assert.equal(counter.take()[fx.model.card.name].gradientImages, img.n, 'probs(x) read the logits pass');
  const p0 = await fx.model.predictProbs(img.x, img.n);
  const p1 = await m.predictProbs(img.x, img.n);
  const p2 = await m.predictProbs(Float32Array.from(img.x), img.n); // same images, another array
  assert.deepEqual(Array.from(p1), Array.from(p0));
  assert.deepEqual(Array.from(p2), Array.from(p0));
  assert.equal(counter.take()[fx.model.card.name].forwardImages, img.n, 'one pass for the two calls');
  const other = Float32Array.from(img.x, (v, i) => (i === 0 ? 1 - v : v));
  const p3 = await m.predictProbs(other, img.n);
  assert.deepEqual(Array.from(p3), Array.from(await fx.model.predictProbs(other, img.n)));
  assert.equal(counter.take()[fx.model.card.name].forwardImages, img.n, 'one changed pixel: a new pass');
  tf.dispose([x, g]);
});

test('a detector row stopped once it is broken gets the verdict of the whole attack, with fewer passes', async (t) => {
  const test = selectImages(fx.data.splits.test, 40, 7);
  const fit = selectImages(fx.data.splits.train, 120, 8);
  const cal = selectImages(fx.data.splits.val, 100, 9);
  const bare: Pipeline = { model: fx.model, deployed: fx.model };
  const basePgd = (await runAttack(fx.model, test, pgd, { eps, norm: 'linf', steps: 20, seed: 0 })).xAdv;
  const bareClean = await judgePipeline(bare, test.x, test.labels);
  const baseline = await measure(bare, test, bareClean, basePgd, 'pgd-20');
  const pairs = await adversarialPairs(fx.model, fit, pgd, eps, 7);
  const rows: ScorecardRow[] = [];
  for (const stop of [false, true]) {
    const counter = new WorkCounter();
    const model = counter.wrap(fx.model, { share: true });
    const det = createDetector('mahalanobis');
    const data = { clean: pairs.clean, labels: pairs.labels, adversarial: pairs.adversarial, advLabels: pairs.labels };
    await det.fit(model, data);
    await det.prepareAdaptive?.(model, data);
    const scores = await det.score(model, cal.x, cal.n);
    const p: Pipeline = {
      model,
      deployed: model,
      detector: { detector: det, threshold: thresholdAt5Fpr(scores), scale: stdDev(scores) || 1 },
    };
    counter.take();
    rows.push(
      await scoreEntry(
        {
          defence: 'mahalanobis',
          kind: 'detector',
          reference: det.reference,
          pipeline: p,
          nonAdaptive: { attack: 'pgd-20', xAdv: basePgd },
          adaptive: jointThenHfc,
          adaptiveOptions: { eps, norm: 'linf', seed: 0, reference: { x: fit.x, y: fit.labels }, lambdaRounds: 2 },
          adaptiveLabel: 'joint-10+hfc-10',
          view: model,
          notes: [],
        } as Parameters<typeof scoreEntry>[0],
        test,
        {
          eps,
          steps: 10,
          baselineProtected: baseline.protectedFraction,
          seed: 0,
          sanityLimit: 16,
          sanityOnlyWhenDeciding: true,
          stopWhenBroken: stop,
          counter,
        },
      ),
    );
  }
  const [whole, stopped] = rows;
  assert.equal(stopped.verdict, whole.verdict);
  assert.equal(whole.stoppedEarly, undefined);
  const passes = (r: ScorecardRow) => r.work!.phases.adaptive[fx.model.card.name].gradientImages;
  t.diagnostic(
    `whole: ${whole.verdict} ${whole.adaptive.fooledAndUndetected} (${passes(whole)} passes); stopped: ` +
      `${stopped.verdict} ${stopped.adaptive.fooledAndUndetected} (${passes(stopped)} passes)`,
  );
  // Mahalanobis on the fixture CNN is broken by the joint attack (seeded: whole 1.0, stopped at 34 of 35)
  assert.equal(whole.verdict, 'broken');
  assert.ok(stopped.stoppedEarly, 'a broken row stops');
  assert.ok(stopped.adaptive.fooledAndUndetected <= whole.adaptive.fooledAndUndetected);
  assert.ok(
    1 - stopped.stoppedEarly!.fooledAndUndetected / stopped.stoppedEarly!.correct <= baseline.protectedFraction + 0.1,
    'it stopped where the rule already says broken',
  );
  assert.ok(passes(stopped) < passes(whole), `${passes(stopped)} vs ${passes(whole)} passes`);
  assert.match(stopped.notes.join(' '), /stopped once/);
});
