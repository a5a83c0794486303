/**
 * Input-transform defences on real PneumoniaMNIST chest X-rays with the fixture CNN: each transform
 * keeps shapes and [0,1]; JPEG error grows as quality falls; bit depth 1 is binary; the median filter
 * removes salt-and-pepper noise; random resize-and-pad is seeded; the papers' non-adaptive claim
 * (transforms restore accuracy on small-ε FGSM/PGD examples crafted on the undefended model, while
 * clean accuracy stays close); spec parsing; the `defend` CLI contract and bad input → exit 2.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine, Rng } from '../src/engine/index.js';
import { cli, isCleanError } from './helpers.js';
import { pneumonia, testImages } from './attacks-fixture.js';
import { getDefence, parseDefenceList } from '../src/defences/registry.js';
import { jpegTransform } from '../src/defences/jpeg.js';
import { bitDepthTransform } from '../src/defences/bitdepth.js';
import { medianTransform } from '../src/defences/median.js';
import { blurTransform } from '../src/defences/blur.js';
import { resizePadTransform } from '../src/defences/resizepad.js';
import { tvmTransform } from '../src/defences/tvm.js';
import type { TransformedModel } from '../src/defences/wrap.js';
import { evaluateDefences } from '../src/eval/defences.js';
import { getAttack } from '../src/attacks/registry.js';
import type { InputTransform } from '../src/defences/types.js';
import { medianFilter, reflect } from '../src/defences/ops.js';

await initEngine();
const fx = await pneumonia();
const img = testImages(fx, 8);
const shape = img.shape;
const mae = (a: Float32Array, b: Float32Array): number => a.reduce((s, v, i) => s + Math.abs(v - b[i]), 0) / a.length;

test('every transform keeps the batch shape and values in [0,1]', async () => {
  const ts: InputTransform[] = [
    jpegTransform(75),
    jpegTransform(10),
    bitDepthTransform(3),
    medianTransform(3),
    medianTransform(5),
    blurTransform(1.5),
    resizePadTransform(1.15),
    tvmTransform(),
  ];
  for (const t of ts) {
    const y = await t.apply(img.x, img.n, shape, new Rng(3));
    assert.equal(y.length, img.x.length, t.spec);
    assert.notEqual(y, img.x, `${t.spec} returns a new array`);
    assert.ok(
      y.every((v) => v >= 0 && v <= 1 && Number.isFinite(v)),
      `${t.spec} out of [0,1]`,
    );
    assert.ok(mae(y, img.x) > 0, `${t.spec} changes the image`);
    assert.ok(mae(y, img.x) < 0.15, `${t.spec} keeps the image recognisable (MAE ${mae(y, img.x)})`);
  }
});

test('JPEG: q=100 is nearly the identity, lower quality loses more', async () => {
  const err = (q: number): number => mae(jpegTransform(q).apply(img.x, img.n, shape) as Float32Array, img.x);
  const [e100, e75, e30, e5] = [100, 75, 30, 5].map(err);
  assert.ok(e100 < 2 / 255, `q=100 MAE ${e100}`);
  assert.ok(e100 < e75 && e75 < e30 && e30 < e5, `MAE by quality 100/75/30/5: ${e100} ${e75} ${e30} ${e5}`);
});

test('bit depth: 1 bit gives only 0 and 1; 8 bits leaves 8-bit images unchanged', async () => {
  const y1 = bitDepthTransform(1).apply(img.x, img.n, shape) as Float32Array;
  assert.ok(y1.every((v) => v === 0 || v === 1));
  assert.ok(y1.some((v) => v === 0) && y1.some((v) => v === 1));
  const y8 = bitDepthTransform(8).apply(img.x, img.n, shape) as Float32Array;
  assert.ok(mae(y8, img.x) < 1e-6);
  const y4 = bitDepthTransform(4).apply(img.x, img.n, shape) as Float32Array;
  assert.ok(new Set(y4).size <= 16);
});

test('median 3×3 removes salt-and-pepper noise from a real X-ray; blur keeps a constant image constant', async () => {
  const [h, w] = shape;
  const d = h * w;
  const clean = img.x.slice(0, d);
  const noisy = Float32Array.from(clean);
  const rng = new Rng(7);
  for (let p = 0; p < d; p++) {
    const u = rng.uniform();
    if (u < 0.025) noisy[p] = 0;
    else if (u < 0.05) noisy[p] = 1;
  }
  const before = mae(noisy, clean);
  const after = mae(medianTransform(3).apply(noisy, 1, shape) as Float32Array, clean);
  assert.ok(after < 0.5 * before, `median: MAE noisy ${before.toFixed(4)} → filtered ${after.toFixed(4)}`);
  const flat = new Float32Array(d).fill(0.4);
  assert.ok((blurTransform(2).apply(flat, 1, shape) as Float32Array).every((v) => Math.abs(v - 0.4) < 1e-6));
  assert.ok((medianTransform(1).apply(clean, 1, shape) as Float32Array).every((v, i) => v === clean[i]));
});

test('random resize-and-pad is seeded: same seed same output, another seed another', async () => {
  const t = resizePadTransform(1.15);
  const a = t.apply(img.x, img.n, shape, new Rng(1)) as Float32Array;
  const b = t.apply(img.x, img.n, shape, new Rng(1)) as Float32Array;
  const c = t.apply(img.x, img.n, shape, new Rng(2)) as Float32Array;
  assert.deepEqual(a, b);
  assert.ok(mae(a, c) > 1e-3);
  const d = getDefence('resizepad');
  assert.ok(d.randomized && d.transform);
  const p1 = await d.wrap(fx.model, { seed: 5 }).predictProbs(img.x, img.n);
  const p2 = await d.wrap(fx.model, { seed: 5 }).predictProbs(img.x, img.n);
  assert.deepEqual(p1, p2);
  const m = d.wrap(fx.model, { seed: 5 }) as TransformedModel;
  assert.equal(m.differentiable, false);
  assert.deepEqual(m.inputShape, fx.model.inputShape);
});

test('TV minimisation: seeded mask, and the reconstruction has lower total variation than the input', () => {
  const [h, w] = shape;
  const tv = (a: Float32Array): number => {
    let s = 0;
    for (let i = 0; i < img.n; i++)
      for (let y = 0; y + 1 < h; y++)
        for (let x = 0; x + 1 < w; x++) {
          const q = i * h * w + y * w + x;
          s += Math.hypot(a[q + w] - a[q], a[q + 1] - a[q]);
        }
    return s;
  };
  const t = tvmTransform(0.5, 0.03, 100);
  const a = t.apply(img.x, img.n, shape, new Rng(1)) as Float32Array;
  assert.deepEqual(a, t.apply(img.x, img.n, shape, new Rng(1)));
  assert.ok(mae(a, t.apply(img.x, img.n, shape, new Rng(2)) as Float32Array) > 1e-4);
  assert.ok(tv(a) < 0.8 * tv(img.x), `TV ${tv(img.x).toFixed(1)} → ${tv(a).toFixed(1)}`);
});

test('specs: parameters, defaults, lists and chains; invalid ones are rejected with one clear message', () => {
  assert.deepEqual(
    parseDefenceList('jpeg:q=75,bitdepth:bits=4').map((d) => d.spec),
    ['jpeg:q=75', 'bitdepth:bits=4'],
  );
  assert.deepEqual(
    parseDefenceList('resizepad:max=1.2,median;blur:sigma=1/2').map((d) => d.spec),
    ['resizepad:max=1.2', 'median:k=3', 'blur:sigma=0.5'],
  );
  assert.equal(getDefence('JPEG').spec, 'jpeg:q=75');
  assert.equal(getDefence('bitdepth:bits=4+median:k=3').spec, 'bitdepth:bits=4+median:k=3');
  for (const [spec, re] of [
    ['foo', /unknown defence 'foo'/],
    ['jpeg:q=0', /q must be ≥ 1 and ≤ 100/],
    ['jpeg:q=101', /q must be/],
    ['jpeg:q=7.5', /integer/],
    ['median:k=2', /odd/],
    ['median:k=0', /k must be/],
    ['bitdepth:bits=9', /bits must be/],
    ['bitdepth:bits=0', /bits must be/],
    ['blur:sigma=0', /sigma must be > 0/],
    ['blur:sigma=x', /must be a number/],
    ['jpeg:quality=5', /no parameter 'quality'/],
    ['jpeg:', /nothing after/],
    ['resizepad:max=1', /max must be > 1/],
    ['tvm:p=0', /p must be > 0/],
    ['jpeg:q=5,q=6', /twice/],
    ['', /no defence/],
  ] as Array<[string, RegExp]>) {
    assert.throws(
      () => parseDefenceList(spec),
      (e: Error & { code?: string }) => e.code === 'BAD_ARGUMENT' && re.test(e.message) && !e.message.includes('\n'),
      spec,
    );
  }
});

test('non-adaptive claim: transforms restore accuracy on small-ε FGSM/PGD examples crafted on the undefended model', async () => {
  const im = testImages(fx, 48, 2);
  const defences = ['jpeg:q=75', 'bitdepth:bits=4', 'median:k=3'].map(getDefence);
  const rows = await evaluateDefences(
    fx.model,
    im,
    defences,
    [getAttack('fgsm'), getAttack('pgd')],
    [{ value: 4 / 255, text: '4/255' }],
    { seed: 1, steps: 10 },
  );
  assert.equal(rows.length, 2 * 4);
  const none = rows.filter((r) => r.defence === 'none');
  for (const r of rows) assert.ok(r.robustAccuracy <= r.cleanAccuracy + 1e-9);
  assert.ok(
    none.every((r) => r.robustAccuracy < r.cleanAccuracy - 0.1),
    `attacks work on the undefended model: ${JSON.stringify(none)}`,
  );
  const helped = rows.filter((r) => {
    const base = none.find((b) => b.attack === r.attack)!;
    return (
      r.defence !== 'none' &&
      r.robustAccuracy > base.robustAccuracy + 0.1 &&
      r.cleanAccuracy >= base.cleanAccuracy - 0.1
    );
  });
  assert.ok(
    helped.length >= 2,
    `defended robust > undefended robust by 0.1 with clean within 0.1: ` +
      `${JSON.stringify(rows.map((r) => [r.defence, r.attack, r.cleanAccuracy, r.robustAccuracy]))}`,
  );
});

test('CLI: JSON rows per attack × ε × (none + defences); bad input → exit 2 with one line', () => {
  const r = cli([
    'defend',
    '--model',
    fx.dir,
    '--dataset',
    'pneumoniamnist',
    '--limit',
    '12',
    '--defence',
    'bitdepth:bits=4',
    '--defence',
    'median:k=3;resizepad',
    '--attacks',
    'fgsm',
    '--eps',
    '2/255,8/255',
    '--seed',
    '1',
    '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const rows = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
  assert.equal(rows.length, 2 * 4);
  assert.deepEqual(
    rows.map((x) => x.defence),
    [
      'none',
      'bitdepth:bits=4',
      'median:k=3',
      'resizepad:max=1.15',
      'none',
      'bitdepth:bits=4',
      'median:k=3',
      'resizepad:max=1.15',
    ],
  );
  for (const row of rows) {
    for (const k of ['defence', 'attack', 'eps', 'cleanAccuracy', 'robustAccuracy', 'notes'])
      assert.ok(k in row, `missing ${k}`);
    assert.equal(row.attack, 'fgsm');
    assert.equal(row.n, 12);
    if (row.defence !== 'none') assert.match((row.notes as string[])[0], /non-adaptive/);
  }
  assert.deepEqual(
    rows.map((x) => x.eps),
    [2, 2, 2, 2, 8, 8, 8, 8].map((e) => e / 255),
  );
  const base = ['defend', '--model', fx.dir, '--limit', '4', '--eps', '2/255', '--attacks', 'fgsm'];
  for (const [args, re] of [
    [['--defence', 'nope'], /unknown defence 'nope'/],
    [['--defence', 'jpeg:q=0'], /q must be/],
    [['--defence', 'median:k=2'], /odd/],
    [[], /at least one --defence/],
    [['--defence', 'jpeg', '--attacks', 'square'], /white-box/],
    [['--defence', 'jpeg', '--eps', 'big'], /./],
  ] as Array<[string[], RegExp]>) {
    const e = cli([...base, ...args]);
    assert.ok(isCleanError(e), `${args.join(' ')}: ${e.code} ${e.stderr}`);
    assert.match(e.stderr, re);
  }
});

test('medianFilter: the 2×2 and 3×3 sorting networks give the values of a sort per window (real films, ties, NaN)', () => {
  const [h, w, c] = shape;
  // reference: sort each reflected window (scipy.ndimage.median_filter; even windows average the two middle values)
  const reference = (x: Float32Array, n: number, k: number): Float32Array => {
    const out = new Float32Array(x.length);
    const lo = k >> 1;
    for (let s = 0; s < n; s++)
      for (let y = 0; y < h; y++)
        for (let xx = 0; xx < w; xx++)
          for (let ch = 0; ch < c; ch++) {
            const win: number[] = [];
            for (let a = 0; a < k; a++)
              for (let b = 0; b < k; b++)
                win.push(x[((s * h + reflect(y + a - lo, h)) * w + reflect(xx + b - lo, w)) * c + ch]);
            const v = Float32Array.from(win).sort();
            out[((s * h + y) * w + xx) * c + ch] =
              v.length % 2 ? v[v.length >> 1] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
          }
    return out;
  };
  const quantised = Float32Array.from(img.x, (v) => Math.round(v * 7) / 7); // many ties
  const withNaN = Float32Array.from(img.x);
  withNaN[100] = Number.NaN;
  for (const x of [img.x, quantised, withNaN])
    for (const k of [2, 3, 4]) {
      const got = medianFilter(x, img.n, shape, k);
      const want = reference(x, img.n, k);
      const diff = got.findIndex((v, i) => !Object.is(v, want[i]) && v !== want[i]);
      assert.equal(diff, -1, `k=${k}: first difference at ${diff}`);
    }
});
