/**
 * Physical attacks on real PneumoniaMNIST images: the adversarial patch (geometry, its exact
 * gradient, white-box / black-box / natural patches at scale 0.4, determinism) and the universal
 * perturbation (inside the ε ball, fools held-out images), plus the CLI contracts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { initEngine, Rng } from '../src/engine/index.js';
import {
  applyPatch,
  evaluatePatch,
  naturalPatch,
  patchExperiment,
  patchSide,
  trainPatch,
} from '../src/attacks/physical/patch.js';
import { patchGradient, randomPlacement, sampling } from '../src/attacks/physical/patch-transform.js';
import { fitUniversal, foolingRate } from '../src/attacks/physical/universal.js';
import { selectImages } from '../src/data/images.js';
import { cli, isCleanError } from './helpers.js';
import { pneumonia, surrogate, testImages } from './attacks-fixture.js';

await initEngine();
const fx = await pneumonia();
const sur = await surrogate();
const SHAPE: [number, number, number] = [28, 28, 1];

test('patch geometry: covers scale × area, leaves the rest untouched, its gradient is the exact adjoint', () => {
  const img = testImages(fx, 4, 5);
  const s = patchSide(0.4, 28, 28);
  assert.equal(s, 18);
  const rng = new Rng(1);
  const patch = rng.fillUniform(new Float32Array(s * s));
  const upright = { cx: 14, cy: 14, angle: 0, side: s };
  const out = applyPatch(img.x.subarray(0, 784), patch, upright, SHAPE);
  let changed = 0;
  for (let j = 0; j < 784; j++) if (out[j] !== img.x[j]) changed++;
  assert.ok(changed <= s * s && changed >= s * s - 2 * s, `changed ${changed} of ${s * s}`);
  // an upright patch of the exact side is pasted pixel for pixel
  assert.ok(
    Math.abs(out[(5 + 0) * 28 + 5] - patch[0]) < 1e-6 &&
      Math.abs(out[(5 + 17) * 28 + 5 + 17] - patch[s * s - 1]) < 1e-6,
  );
  // rotated placements stay inside the image and cover about s² pixels
  const pl = Array.from({ length: 4 }, () => randomPlacement(rng, 28, 28, s, 22.5, 0.1));
  const sm = sampling(pl, 28, 28, s);
  for (let i = 0; i < 4; i++) {
    const covered = sm.mask.subarray(i * 784, (i + 1) * 784).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(covered - pl[i].side ** 2) < 3 * pl[i].side, `covered ${covered} for side ${pl[i].side}`);
  }
  const xs = applyPatch(img.x, patch, pl, SHAPE);
  assert.ok(xs.every((v) => v >= 0 && v <= 1));
  // dot-product test: A is linear in p, so <A(p) − A(0), g> = <p, Mᵀg>
  const g = rng.fillNormal(new Float32Array(4 * 784));
  const a0 = applyPatch(img.x, new Float32Array(s * s), pl, SHAPE);
  let lhs = 0;
  for (let j = 0; j < g.length; j++) lhs += (xs[j] - a0[j]) * g[j];
  const gp = patchGradient(g, sm, 4, 784, 1, s);
  let rhs = 0;
  for (let j = 0; j < patch.length; j++) rhs += patch[j] * gp[j];
  assert.ok(Math.abs(lhs - rhs) < 1e-3 * Math.max(1, Math.abs(lhs)), `${lhs} vs ${rhs}`);
});

test('scale 0.4: the white-box patch drops accuracy far below clean, the natural patch much less; black-box from a surrogate', async () => {
  const runs = await patchExperiment(fx.model, sur.model, fx.data, {
    modes: ['whitebox', 'blackbox', 'natural'],
    scales: [0.4],
    limit: 120,
    fitLimit: 300,
    steps: 60,
    seed: 3,
  });
  const by = Object.fromEntries(runs.map((r) => [r.mode, r]));
  const clean = by.whitebox.cleanAccuracy;
  for (const r of runs) {
    assert.equal(r.n, 120);
    assert.equal(r.cleanAccuracy, clean);
    assert.equal(r.patchSize, 18);
    assert.equal(r.patches.length, 2, 'one patch per class (untargeted, binary)');
    for (const p of r.patches) assert.ok(p.patch.length === 18 * 18 && p.patch.every((v) => v >= 0 && v <= 1));
  }
  assert.ok(clean >= 0.75, `clean ${clean}`);
  assert.ok(by.whitebox.patchedAccuracy <= 0.15, `white-box patched accuracy ${by.whitebox.patchedAccuracy}`);
  assert.ok((by.whitebox.attackSuccessRate ?? 0) >= 0.85);
  assert.ok(
    by.natural.patchedAccuracy >= by.whitebox.patchedAccuracy + 0.3,
    `natural ${by.natural.patchedAccuracy} vs white-box ${by.whitebox.patchedAccuracy}`,
  );
  assert.ok(by.blackbox.patchedAccuracy < clean - 0.1, `black-box ${by.blackbox.patchedAccuracy} vs clean ${clean}`);
});

test('same seed → same patch and same numbers; another seed → another patch', async () => {
  const fit = selectImages(fx.data.splits.train, 64, 0);
  const img = testImages(fx, 40, 2);
  const a = await trainPatch(fx.model, fit, { scale: 0.2, steps: 4, seed: 9 });
  const b = await trainPatch(fx.model, fit, { scale: 0.2, steps: 4, seed: 9 });
  const c = await trainPatch(fx.model, fit, { scale: 0.2, steps: 4, seed: 10 });
  assert.deepEqual(a.patch, b.patch);
  assert.notDeepEqual(a.patch, c.patch);
  const e1 = await evaluatePatch(fx.model, img, a.patch, { seed: 4 });
  const e2 = await evaluatePatch(fx.model, img, b.patch, { seed: 4 });
  assert.deepEqual(
    [e1.cleanAccuracy, e1.patchedAccuracy, e1.attackSuccessRate],
    [e2.cleanAccuracy, e2.patchedAccuracy, e2.attackSuccessRate],
  );
  const nat = naturalPatch(fx.data.splits.train, 0.2, new Rng(1));
  assert.deepEqual(nat, naturalPatch(fx.data.splits.train, 0.2, new Rng(1)));
  assert.equal(nat.length, patchSide(0.2, 28, 28) ** 2);
  assert.ok(nat.every((v) => v >= 0 && v <= 1));
});

test('universal perturbation: inside the ε ball (L∞ and L2) and fools held-out images', async () => {
  const fit = selectImages(fx.data.splits.train, 150, 0);
  const hold = testImages(fx, 200, 7);
  const eps = 8 / 255;
  const u = await fitUniversal(fx.model, fit, { eps, seed: 0 });
  assert.ok(u.delta.every((v) => Math.abs(v) <= eps + 1e-7));
  const rate = await foolingRate(fx.model, hold, u.delta);
  assert.ok(rate >= 0.15, `held-out fooling rate ${rate}`);
  assert.equal(await foolingRate(fx.model, hold, new Float32Array(784)), 0);
  const v = await fitUniversal(fx.model, fit, { eps: 1, norm: 'l2', seed: 0, maxIter: 2 });
  assert.ok(Math.sqrt(v.delta.reduce((a, b) => a + b * b, 0)) <= 1 + 1e-6);
  const w = await fitUniversal(fx.model, selectImages(fx.data.splits.train, 12, 0), {
    eps,
    method: 'deepfool',
    seed: 0,
    maxIter: 1,
  });
  assert.ok(w.delta.every((x) => Math.abs(x) <= eps + 1e-7) && w.passes === 1);
});

test('CLI: patch and universal JSON contracts, files, and bad input → exit 2', () => {
  const out = mkdtempSync(path.join(tmpdir(), 'ms-physical-'));
  const r = cli([
    'patch',
    '--model',
    fx.dir,
    '--mode',
    'whitebox,natural',
    '--scale',
    '0.1,0.4',
    '--limit',
    '20',
    '--fit-limit',
    '64',
    '--steps',
    '3',
    '--seed',
    '2',
    '--save-patch',
    path.join(out, 'patch.png'),
    '--save-examples',
    path.join(out, 'ex'),
    '--report',
    path.join(out, 'patch.html'),
    '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const html = readFileSync(path.join(out, 'patch.html'), 'utf8');
  assert.match(html, /id="patch-results"/);
  assert.match(html, /<svg/);
  assert.match(html, /alt="whitebox patch"/);
  assert.match(html, /alt="patched 0"/);
  const rows = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
  assert.equal(rows.length, 4);
  assert.deepEqual(
    rows.map((x) => [x.mode, x.scale]),
    [
      ['whitebox', 0.1],
      ['whitebox', 0.4],
      ['natural', 0.1],
      ['natural', 0.4],
    ],
  );
  for (const x of rows)
    assert.deepEqual(Object.keys(x), ['mode', 'scale', 'n', 'cleanAccuracy', 'patchedAccuracy', 'attackSuccessRate']);
  assert.ok(existsSync(path.join(out, 'patch-whitebox-0.4-on-pneumonia.png')));
  assert.ok(readdirSync(path.join(out, 'ex')).some((f) => f.endsWith('-patched.png')));
  const u = cli([
    'universal',
    '--model',
    fx.dir,
    '--eps',
    '8/255',
    '--fit-limit',
    '40',
    '--limit',
    '30',
    '--max-iter',
    '2',
    '--save',
    path.join(out, 'delta.png'),
    '--json',
  ]);
  assert.equal(u.code, 0, u.stderr);
  const o = JSON.parse(u.stdout);
  assert.equal(o.eps, 8 / 255);
  assert.equal(o.fit.n, 40);
  assert.equal(o.holdout.n, 30);
  assert.ok(
    o.fit.foolingRate >= 0 && o.fit.foolingRate <= 1 && o.holdout.foolingRate >= 0 && o.holdout.foolingRate <= 1,
  );
  assert.ok(existsSync(path.join(out, 'delta.png')));
  const bad: Array<[string[], RegExp]> = [
    [['patch', '--model', fx.dir, '--mode', 'blackbox', '--limit', '4'], /needs --surrogate/],
    [['patch', '--model', fx.dir, '--mode', 'sideways', '--limit', '4'], /unknown --mode/],
    [['patch', '--model', fx.dir, '--scale', '1.5', '--limit', '4'], /--scale/],
    [['patch', '--model', fx.dir, '--target', '7', '--limit', '4'], /--target/],
    [['universal', '--model', fx.dir, '--eps', '0'], /greater than 0/],
    [['universal', '--model', fx.dir, '--eps', '2', '--limit', '4'], /at most 1/],
  ];
  for (const [args, msg] of bad) {
    const b = cli(args);
    assert.ok(isCleanError(b), `${args.join(' ')} → ${b.code}: ${b.stderr}`);
    assert.match(b.stderr, msg);
  }
});
