/**
 * Decision-based (label-only) query attacks — HopSkipJump (L2, L∞, targeted) and Boundary — on
 * small CNNs trained on real chest X-rays (PneumoniaMNIST) and fundus photographs (RetinaMNIST),
 * queried through targets that return labels only. Checks: HSJ against white-box CW-L2, exact
 * query counting through a wrapper that counts the images the target receives, the budget, ε-ball
 * and [0,1] limits, success only where the returned image is adversarial, seeding, targeted mode.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../src/engine/index.js';
import { ATTACKS } from '../src/attacks/registry.js';
import { ModelTarget, type Target } from '../src/attacks/targets/target.js';
import { hsj } from '../src/attacks/algorithms/hsj.js';
import { boundary } from '../src/attacks/algorithms/boundary.js';
import { rowNorms, withinBall } from '../src/attacks/project.js';
import type { DecisionOptions } from '../src/attacks/decision.js';
import type { Classifier } from '../src/models/model.js';
import { MedshieldError } from '../src/errors.js';
import { pneumonia, retina, testImages } from './attacks-fixture.js';

const DECISION = { hsj, boundary };

// One engine thread: these attacks make thousands of small target calls, and on a busy 2-core
// machine a 2-thread pool waits for a descheduled thread on every call (≈ 100 ms per call).
await initEngine({ threads: 1 });
const px = await pneumonia();
const pimg = testImages(px, 10, 1);
const pd = 28 * 28;

/** Wraps a target and counts every image it receives (and checks each lies in [0,1]). */
class CountingTarget implements Target {
  readonly kind: Target['kind'];
  readonly name: string;
  readonly inputShape: Target['inputShape'];
  readonly classes: string[];
  readonly task: Target['task'];
  readonly output: Target['output'];
  calls = 0;
  images = 0;
  outOfRange = 0;
  constructor(private readonly inner: Target) {
    this.kind = inner.kind;
    this.name = inner.name;
    this.inputShape = inner.inputShape;
    this.classes = inner.classes;
    this.task = inner.task;
    this.output = inner.output;
  }
  get queries(): number {
    return this.inner.queries;
  }
  async predictProbs(x: Float32Array, n: number): Promise<Float32Array> {
    this.calls++;
    this.images += n;
    for (const v of x) if (!(v >= 0 && v <= 1)) this.outOfRange++;
    return this.inner.predictProbs(x, n);
  }
}

async function predictions(model: Classifier, x: Float32Array, n: number): Promise<number[]> {
  const p = await model.predictProbs(x, n);
  const k = model.classes.length;
  return Array.from({ length: n }, (_, i) => {
    let c = 0;
    for (let j = 1; j < k; j++) if (p[i * k + j] > p[i * k + c]) c = j;
    return c;
  });
}

const median = (a: number[]): number => {
  const b = [...a].sort((p, q) => p - q);
  const m = b.length;
  return m % 2 ? b[(m - 1) / 2] : (b[m / 2 - 1] + b[m / 2]) / 2;
};
const cleanPred = await predictions(px.model, pimg.x, pimg.n);
const correct = cleanPred.flatMap((c, i) => (c === pimg.labels[i] ? [i] : []));

test('HSJ on a label-only target: median L2 within 3× white-box CW-L2 on the same images (2000 queries)', async () => {
  const target = new ModelTarget(px.model, 'label');
  assert.equal(target.output, 'label');
  const h = await hsj.run(target, pimg.x, pimg.labels, { eps: 10, norm: 'l2', seed: 0, maxQueries: 2000 });
  const cw = await ATTACKS.cw.run(px.model as never, pimg.x, pimg.labels, { eps: 10, norm: 'l2', seed: 0 });
  for (const r of [h, cw]) assert.ok(withinBall(pimg.x, r.xAdv, pd, 'l2', 10));
  const hp = await predictions(px.model, h.xAdv, pimg.n);
  for (let i = 0; i < pimg.n; i++)
    if (h.success[i]) assert.notEqual(hp[i], pimg.labels[i], `image ${i} reported adversarial`);
  assert.ok(
    correct.length >= 6 && correct.every((i) => h.success[i] && cw.success[i]),
    'every correctly classified image is attacked',
  );
  const hl2 = rowNorms(h.xAdv, pimg.x, pd).l2;
  const cl2 = rowNorms(cw.xAdv, pimg.x, pd).l2;
  const hm = median(correct.map((i) => hl2[i]));
  const cm = median(correct.map((i) => cl2[i]));
  assert.ok(hm > 0 && hm < 3 * cm, `HSJ median L2 ${hm.toFixed(3)} vs CW-L2 ${cm.toFixed(3)}`);
  assert.ok(Math.max(...h.queriesPerSample!) <= 2000);
  for (let i = 0; i < pimg.n; i++)
    if (!correct.includes(i)) assert.equal(h.queriesPerSample![i], 1, 'a misclassified image costs one look');
});

test('query counting is exact and the budget is never exceeded (HSJ L2, HSJ L∞, Boundary)', async () => {
  for (const [name, norm, q] of [
    ['hsj', 'l2', 150],
    ['hsj', 'linf', 260],
    ['boundary', 'l2', 140],
  ] as const) {
    const counting = new CountingTarget(new ModelTarget(px.model, 'label'));
    const steps: number[] = [];
    const r = await DECISION[name].run(counting, pimg.x, pimg.labels, {
      eps: norm === 'l2' ? 10 : 1,
      norm,
      seed: 3,
      maxQueries: q,
      onStep: (done) => steps.push(done),
    });
    const per = r.queriesPerSample!;
    const sum = per.reduce((a, b) => a + b, 0);
    assert.equal(counting.images, sum, `${name} ${norm}: target saw ${counting.images}, reported ${sum}`);
    assert.equal(r.queries.forward, sum);
    assert.equal(r.queries.gradient, 0);
    assert.equal(counting.outOfRange, 0, 'every query lies in [0,1]');
    assert.ok(
      per.every((v) => v >= 1 && v <= q),
      `${name} ${norm}: ${Array.from(per)}`,
    );
    assert.ok(
      correct.some((i) => per[i] > q - 30),
      `${name} ${norm} spends its budget on attacked images`,
    );
    assert.ok(
      counting.calls < sum / 2,
      `${name} ${norm} batches its queries (${counting.calls} calls for ${sum} images)`,
    );
    assert.ok(
      steps.length > 0 && steps.every((v, k) => k === 0 || v >= steps[k - 1]),
      'progress is reported and monotone',
    );
    assert.ok(withinBall(pimg.x, r.xAdv, pd, norm, norm === 'l2' ? 10 : 1));
    const adv = await predictions(px.model, r.xAdv, pimg.n);
    for (let i = 0; i < pimg.n; i++) if (r.success[i]) assert.notEqual(adv[i], pimg.labels[i]);
  }
});

test('a small ε: the search is the same, success only where the found perturbation fits the ball', async () => {
  const run = (eps: number) =>
    hsj.run(new ModelTarget(px.model, 'label'), pimg.x, pimg.labels, { eps, norm: 'l2', seed: 1, maxQueries: 400 });
  const big = await run(10);
  const small = await run(0.6);
  assert.deepEqual(Array.from(small.queriesPerSample!), Array.from(big.queriesPerSample!));
  const l2 = rowNorms(big.xAdv, pimg.x, pd).l2;
  let outside = 0;
  for (let i = 0; i < pimg.n; i++) {
    assert.equal(small.success[i], big.success[i] && l2[i] <= 0.6 ? 1 : 0, `image ${i}: L2 ${l2[i]}`);
    if (big.success[i] && l2[i] > 0.6) outside++;
  }
  assert.ok(
    outside > 0 && small.notes.some((n) => n.includes('outside the ε ball')),
    'some perturbations are larger than ε',
  );
  assert.ok(withinBall(pimg.x, small.xAdv, pd, 'l2', 0.6));
  const adv = await predictions(px.model, small.xAdv, pimg.n);
  for (let i = 0; i < pimg.n; i++) if (small.success[i]) assert.notEqual(adv[i], pimg.labels[i]);
});

test('earlyStop: an image stops once it is within ε, and says what that cost', async () => {
  for (const [name, eps] of [
    ['hsj', 1],
    ['boundary', 2],
  ] as const) {
    const r = await DECISION[name].run(new ModelTarget(px.model, 'label'), pimg.x, pimg.labels, {
      eps,
      seed: 0,
      maxQueries: 1500,
      earlyStop: true,
    });
    const l2 = rowNorms(r.xAdv, pimg.x, pd).l2;
    const spent = correct.filter((i) => r.success[i]).map((i) => r.queriesPerSample![i]);
    assert.ok(spent.length >= correct.length / 2, `${name}: ${spent.length} of ${correct.length}`);
    assert.ok(median(spent) < 1000, `${name}: median queries ${median(spent)}`);
    for (const i of correct) if (r.success[i]) assert.ok(l2[i] <= eps);
  }
});

test('same seed → same output; another seed → another walk (HSJ, Boundary)', async () => {
  for (const name of ['hsj', 'boundary'] as const) {
    const run = (seed: number) =>
      DECISION[name].run(new ModelTarget(px.model, 'label'), pimg.x, pimg.labels, { eps: 10, seed, maxQueries: 250 });
    const [a, b, c] = [await run(7), await run(7), await run(8)];
    assert.deepEqual(a.xAdv, b.xAdv, `${name}: same seed, same images`);
    assert.deepEqual(a.queriesPerSample, b.queriesPerSample);
    assert.notDeepEqual(a.xAdv, c.xAdv, `${name}: another seed changes the walk`);
  }
});

test('Boundary: more queries bring the adversarial images closer', async () => {
  const run = (q: number) =>
    boundary.run(new ModelTarget(px.model, 'label'), pimg.x, pimg.labels, { eps: 10, seed: 0, maxQueries: q });
  const short = await run(130);
  const long = await run(1200);
  const ls = rowNorms(short.xAdv, pimg.x, pd).l2;
  const ll = rowNorms(long.xAdv, pimg.x, pd).l2;
  for (const i of correct) {
    assert.ok(short.success[i] && long.success[i]);
    assert.ok(ll[i] <= ls[i] + 1e-6, `image ${i}: ${ll[i]} after 1200 queries vs ${ls[i]} after 130`);
  }
  assert.ok(median(correct.map((i) => ll[i])) < 0.8 * median(correct.map((i) => ls[i])));
});

test('targeted HSJ on RetinaMNIST (5 grades): images reach the chosen grade, from batch images or given starting points', async () => {
  const rx = await retina();
  const img = testImages(rx, 10, 1);
  const d = 28 * 28 * 3;
  const target = 0; // "no retinopathy": hide the disease
  const clean = await predictions(rx.model, img.x, img.n);
  const attacked = Array.from({ length: img.n }, (_, i) => i).filter(
    (i) => img.labels[i] !== target && clean[i] !== target,
  );
  assert.ok(attacked.length >= 3);
  const opts: DecisionOptions = { eps: 20, seed: 0, maxQueries: 500, criterion: { kind: 'targeted', target } };
  const r = await hsj.run(new ModelTarget(rx.model, 'label'), img.x, img.labels, opts);
  const adv = await predictions(rx.model, r.xAdv, img.n);
  for (let i = 0; i < img.n; i++) {
    if (r.success[i]) assert.equal(adv[i], target, `image ${i} reported at grade ${target}`);
    if (img.labels[i] === target) {
      assert.equal(r.success[i], 0);
      assert.equal(r.queriesPerSample![i], 0, 'a sample of the target grade is not attacked');
    }
  }
  assert.ok(
    attacked.every((i) => r.success[i]),
    `targeted success ${attacked.map((i) => r.success[i])}`,
  );
  assert.ok(withinBall(img.x, r.xAdv, d, 'l2', 20));
  // Given starting points (an image the model calls grade 0): used first, so the start costs one query.
  const all = testImages(rx, 60, 4);
  const allPred = await predictions(rx.model, all.x, all.n);
  const k = allPred.indexOf(target);
  assert.ok(k >= 0);
  const startingPoints = new Float32Array(img.n * d);
  for (let i = 0; i < img.n; i++) startingPoints.set(all.x.subarray(k * d, (k + 1) * d), i * d);
  const counting = new CountingTarget(new ModelTarget(rx.model, 'label'));
  const given: DecisionOptions = { ...opts, maxQueries: 12, startingPoints };
  const g = await hsj.run(counting, img.x, img.labels, given);
  // 1 look + 1 start + 10 blend steps: exactly the budget, the point found is adversarial
  for (const i of attacked) {
    assert.equal(g.queriesPerSample![i], 12);
    assert.equal(g.success[i], 1);
  }
  const gAdv = await predictions(rx.model, g.xAdv, img.n);
  for (const i of attacked) assert.equal(gAdv[i], target);
  assert.equal(
    counting.images,
    g.queriesPerSample!.reduce((a, b) => a + b, 0),
  );
});

test('bad requests are one-line errors: unsupported norm, wrong starting points', async () => {
  const t = new ModelTarget(px.model, 'label');
  await assert.rejects(
    hsj.run(t, pimg.x, pimg.labels, { eps: 1, norm: 'l1' }),
    (e: unknown) => e instanceof MedshieldError && /l1/.test(e.message),
  );
  await assert.rejects(boundary.run(t, pimg.x, pimg.labels, { eps: 1, norm: 'linf' }), MedshieldError);
  const bad: DecisionOptions = {
    eps: 1,
    startingPoints: new Float32Array(5),
    criterion: { kind: 'targeted', target: 'other' },
  };
  await assert.rejects(
    hsj.run(t, pimg.x, pimg.labels, bad),
    (e: unknown) => e instanceof MedshieldError && /starting points/.test(e.message),
  );
});
