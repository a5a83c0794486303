/**
 * The library API's verbs called directly (src/api): spec validation errors are one-line exit-2
 * MedshieldErrors naming the field; `data.range` shards of a seeded sample give the same per-sample
 * records as one call on the whole sample (deterministic attacks); the verbs' JSON equals the CLI's.
 * Real data: the shipped default model on the pneumoniamnist test split.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../src/engine/index.js';
import { MedshieldError } from '../src/errors.js';
import {
  attack,
  evaluate,
  defend,
  certify,
  validateSpec,
  newVerbCache,
  ATTACK_SPEC_SCHEMA,
  type AttackSpec,
} from '../src/index.js';
import { cli } from './helpers.js';

await initEngine();
const DATA = { dataset: 'pneumoniamnist', split: 'test' as const, limit: 16 };

async function refused(p: Promise<unknown>, field: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof MedshieldError, `not a MedshieldError: ${e}`);
    assert.equal(e.code, 'BAD_ARGUMENT'); // the CLI maps it to exit code 2
    assert.ok(!e.message.includes('\n'), e.message);
    assert.match(e.message, field);
    return true;
  });
}

test('spec errors: unknown fields, bad ε, bad split, bad range → BAD_ARGUMENT naming the field', async () => {
  await refused(
    attack({ attack: 'fgsm', eps: '8/255', data: DATA, foo: 1 } as unknown as AttackSpec),
    /unknown field 'foo'/,
  );
  await refused(
    attack({ attack: 'fgsm', eps: '8/255', data: { ...DATA, limt: 3 } } as unknown as AttackSpec),
    /unknown field 'data\.limt'/,
  );
  await refused(attack({ attack: 'fgsm', eps: -1, data: DATA }), /^attack spec: eps must be/);
  await refused(attack({ attack: 'fgsm', eps: [0.01, 'x/2'], data: DATA }), /eps\[1\] must be/);
  await refused(
    attack({ attack: 'fgsm', eps: 'eight', data: DATA }),
    /ε must be a number or a fraction like 8\/255, got 'eight'/,
  );
  await refused(attack({ attack: 'fgsm', eps: 2, data: DATA }), /ε must be at most 1 for the linf norm/);
  await refused(
    attack({ attack: 'fgsm', eps: '8/255', data: { ...DATA, split: 'holdout' as 'test' } }),
    /data\.split must be one of train, val, test/,
  );
  await refused(attack({ eps: '8/255', data: DATA } as unknown as AttackSpec), /missing field 'attack'/);
  await refused(
    attack({ attack: 'fgsm', eps: '8/255', data: { ...DATA, range: [8, 20] } }),
    /range \[8, 20\) is beyond the 16 selected images/,
  );
  await refused(attack({ attack: 'fgsm', eps: '8/255', steps: 0, data: DATA }), /steps must be/);
  await refused(evaluate({ data: { split: 'test' }, model: 'default', extra: true } as never), /unknown field 'extra'/);
  await refused(certify({ data: DATA, n: 10, n0: 50 }), /--n \(10\) must be at least --n0 \(50\)/);
  await refused(defend({ defences: ['jpeg:q=75'], eps: 'bad', data: DATA }), /ε must be a number/);
  assert.throws(() => validateSpec(ATTACK_SPEC_SCHEMA, 'pgd', 'attack spec'), /attack spec must be an object/);
});

/** The per-sample facts a campaign shard stores. */
const facts = (r: Awaited<ReturnType<typeof attack>>) =>
  r.runs.flatMap((run) => run.records.map((x) => ({ eps: run.summary.eps, ...x })));

for (const [name, extra] of [
  ['fgsm', {}],
  ['pgd', { steps: 5, randomStart: false }],
] as const) {
  test(`${name}: the records of range [0,8) and [8,16) of a 16-image sample are those of one call on all 16`, async () => {
    const spec: AttackSpec = { attack: name, eps: ['2/255', '8/255'], data: DATA, seed: 3, ...extra };
    const whole = await attack(spec);
    const cache = newVerbCache(); // shards of one process share the loaded model and dataset
    const a = await attack({ ...spec, data: { ...DATA, range: [0, 8] } }, { cache });
    const b = await attack({ ...spec, data: { ...DATA, range: [8, 16] } }, { cache });
    assert.equal(cache.models.size, 1);
    assert.equal(cache.datasets.size, 1);
    assert.equal(whole.n, 16);
    assert.equal(a.n, 8);
    assert.equal(b.n, 8);
    assert.deepEqual([...a.indices, ...b.indices], whole.indices);
    const wf = facts(whole);
    const sf = [...facts(a), ...facts(b)];
    const key = (x: { eps: number; index: number }) => `${x.eps}:${x.index}`;
    const byKey = new Map(sf.map((x) => [key(x), x]));
    assert.equal(byKey.size, wf.length);
    for (const w of wf) {
      const s = byKey.get(key(w))!;
      assert.ok(s, `missing record ${key(w)}`);
      for (const k of ['index', 'label', 'cleanPrediction', 'adversarialPrediction', 'attacked', 'success'] as const)
        assert.deepEqual(s[k], w[k], `${key(w)} ${k}`);
      for (const k of ['cleanConfidence', 'adversarialConfidence', 'linf', 'l2'] as const)
        assert.ok(Math.abs(s[k] - w[k]) <= 1e-4, `${key(w)} ${k}: ${s[k]} vs ${w[k]}`);
      assert.ok(w.linf <= w.eps + 1e-6);
    }
  });
}

test('attack: the verb gives the CLI JSON for the same arguments, and the images on request', async () => {
  const r = await attack({ attack: 'fgsm', eps: '8/255', data: DATA, seed: 0, returnImages: true });
  const c = cli([
    'attack',
    '--model',
    'default',
    '--dataset',
    'pneumoniamnist',
    '--split',
    'test',
    '--limit',
    '16',
    '--attack',
    'fgsm',
    '--eps',
    '8/255',
    '--json',
  ]);
  assert.equal(c.code, 0, c.stderr);
  const strip = (o: Record<string, unknown>) => {
    const { seconds: _s, imagesPerSecond: _i, ...rest } = o;
    return rest;
  };
  assert.deepEqual(strip(r.json as Record<string, unknown>), strip(JSON.parse(c.stdout)));
  const run = r.runs[0];
  assert.equal(run.records.length, 16);
  assert.equal(run.adversarial!.length, r.images!.x.length);
  assert.equal(r.images!.x.length, 16 * 28 * 28);
  // the returned images are the attacked ones: each record's L∞ is the distance of its pair
  for (const [i, rec] of run.records.entries()) {
    let m = 0;
    for (let k = i * 784; k < (i + 1) * 784; k++) m = Math.max(m, Math.abs(run.adversarial![k] - r.images!.x[k]));
    assert.ok(Math.abs(m - rec.linf) < 1e-5, `sample ${i}: ${m} vs ${rec.linf}`);
  }
});

test('evaluate: the verb gives the CLI JSON; a range of the sample is a subset of it', async () => {
  const r = await evaluate({ model: 'default', data: { dataset: 'pneumoniamnist', split: 'test', head: 40 } });
  const c = cli([
    'eval',
    '--model',
    'default',
    '--dataset',
    'pneumoniamnist',
    '--split',
    'test',
    '--limit',
    '40',
    '--json',
  ]);
  assert.equal(c.code, 0, c.stderr);
  assert.deepEqual(r.json, JSON.parse(c.stdout));
  assert.equal(r.n, 40);
  const s = await evaluate({ data: { dataset: 'pneumoniamnist', limit: 16, range: [4, 12] }, seed: 3 });
  const w = await attack({ attack: 'fgsm', eps: '1/255', data: { dataset: 'pneumoniamnist', limit: 16 }, seed: 3 });
  assert.deepEqual(s.indices, w.indices.slice(4, 12));
});
