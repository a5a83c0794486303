/**
 * Plans printed before long runs (issue #24): the demo's sample scales down on a slow backend to fit its
 * 10-minute budget and says so; an explicit --attack-images or --full is planned as asked; the
 * scorecard's per-row plan scales with the calibration; a quick scorecard skips the sanity checks only
 * where they cannot change the verdict. Calibration figures are given, nothing is timed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  planDemo,
  demoStages,
  DEMO_BUDGET_SECONDS,
  DEMO_DEFAULT_IMAGES,
  DEMO_MIN_IMAGES,
  DEMO_SUBSET_IMAGES,
} from '../src/studies/story.js';
import { planScorecard, ALL_DEFENCES } from '../src/eval/scorecard-entries.js';
import { brokenAt, sanityDecides, verdictOf } from '../src/eval/scorecard.js';

const cal = (ms: number, backend = 'native') => ({ backend, gradientSecondsPerImage: ms / 1000, batch: 32 });
const TEST_N = 624; // PneumoniaMNIST's test split

test('demo plan: a fast backend runs the default sample; a slow one scales it down to the budget and says so', () => {
  const fast = planDemo(cal(8), { testN: TEST_N });
  assert.equal(fast.attackImages, DEMO_DEFAULT_IMAGES);
  assert.equal(fast.scaled, false);
  // Square and the detector act take the first 64 of the 128 films
  assert.equal(fast.squareImages, DEMO_SUBSET_IMAGES);
  assert.equal(fast.actImages, DEMO_SUBSET_IMAGES);
  assert.equal(fast.stages.find((s) => s.stage === 'square 8/255')?.images, DEMO_SUBSET_IMAGES);
  // the native backend as calibrated on a quiet 2-core machine (7.8 ms per film): the full plan in ≤ 6 min
  const native = planDemo(cal(7.8), { testN: TEST_N });
  assert.equal(native.scaled, false);
  assert.ok(native.estimatedSeconds <= 330, `${native.estimatedSeconds}`);
  // wasm as calibrated there (85 ms per film): scaled to fit 10 min, Square's budget cut only after the sample
  const wasm = planDemo(cal(85.3, 'wasm'), { testN: TEST_N });
  assert.equal(wasm.scaled, true);
  assert.ok(wasm.estimatedSeconds <= DEMO_BUDGET_SECONDS, `${wasm.estimatedSeconds}`);
  assert.ok(wasm.attackImages >= DEMO_MIN_IMAGES && wasm.attackImages < DEMO_DEFAULT_IMAGES);
  assert.ok(fast.estimatedSeconds <= DEMO_BUDGET_SECONDS);
  assert.deepEqual(
    fast.stages.map((s) => s.stage),
    ['evaluate', 'pgd 2/255', 'pgd 8/255', 'square 8/255', 'transfer 8/255', 'detector fit', 'informed attacker'],
  );
  const slow = planDemo(cal(50, 'wasm'), { testN: TEST_N });
  assert.equal(slow.scaled, true);
  assert.ok(slow.attackImages < DEMO_DEFAULT_IMAGES && slow.attackImages >= DEMO_MIN_IMAGES, `${slow.attackImages}`);
  assert.ok(slow.estimatedSeconds <= DEMO_BUDGET_SECONDS, `${slow.estimatedSeconds}`);
  assert.equal(slow.requestedAttackImages, DEMO_DEFAULT_IMAGES);
  // the largest sample that fits: one more step up would not
  assert.equal(slow.fitImages, Math.max(32, 2 * slow.attackImages));
  const bigger = demoStages(cal(50, 'wasm'), Math.ceil(slow.attackImages / 0.9), TEST_N, true, true).reduce(
    (s, x) => s + x.estimatedSeconds,
    0,
  );
  assert.ok(bigger > 0.8 * DEMO_BUDGET_SECONDS);
  // the estimate is linear in the calibration
  const slower = planDemo(cal(240, 'wasm'), { testN: TEST_N });
  assert.ok(slower.attackImages <= slow.attackImages);
  // far too slow even for the smallest plan: it runs that and says it does not fit
  assert.equal(slower.attackImages, DEMO_MIN_IMAGES);
  assert.equal(slower.fits, false);
});

test('demo plan: --attack-images N and --full are planned as asked, whatever the estimate', () => {
  const asked = planDemo(cal(500, 'cpu'), { testN: TEST_N, requested: 64 });
  assert.equal(asked.attackImages, 64);
  assert.equal(asked.scaled, false);
  assert.ok(asked.estimatedSeconds > DEMO_BUDGET_SECONDS);
  const full = planDemo(cal(500, 'cpu'), { testN: TEST_N, full: true });
  assert.equal(full.attackImages, DEMO_DEFAULT_IMAGES);
  assert.equal(full.scaled, false);
  const noTransfer = planDemo(cal(20), { testN: TEST_N, withTransfer: false });
  assert.ok(!noTransfer.stages.some((s) => s.stage.startsWith('transfer')));
  // detector fit films follow the sample: 200 for 128, at least 48 (32 when scaled down)
  assert.equal(full.fitImages, 200);
  assert.equal(planDemo(cal(20), { testN: TEST_N, requested: 8 }).fitImages, 48);
});

test('scorecard plan: one row per defence, shared stages, estimates linear in images and calibration', () => {
  const o = { defences: ALL_DEFENCES, n: 64, fitN: 200, calibrationN: 200, quick: true };
  const a = planScorecard(cal(50), o);
  assert.deepEqual(
    a.rows.map((r) => r.defence),
    ALL_DEFENCES,
  );
  assert.equal(a.shared.length, 2);
  assert.ok(a.rows.every((r) => r.estimatedSeconds > 0 && r.sanityImages === 32));
  const b = planScorecard(cal(100), o);
  assert.ok(Math.abs(b.estimatedSeconds - 2 * a.estimatedSeconds) < 1, `${a.estimatedSeconds} ${b.estimatedSeconds}`);
  const noDetectors = planScorecard(cal(50), { ...o, defences: ['jpeg:q=75'] });
  assert.equal(noDetectors.shared.length, 1);
  // more EOT draws cost more on a randomized row only
  const eot = planScorecard(cal(50), { ...o, defences: ['tvm', 'jpeg:q=75'], samples: 8 });
  const eot4 = planScorecard(cal(50), { ...o, defences: ['tvm', 'jpeg:q=75'] });
  assert.ok(eot.rows[0].estimatedSeconds > eot4.rows[0].estimatedSeconds);
  assert.equal(eot.rows[1].estimatedSeconds, eot4.rows[1].estimatedSeconds);
});

test('quick scorecard: where the sanity checks are skipped, the verdict is the same whether they pass or fail', () => {
  let skipped = 0;
  let decided = 0;
  for (let non = 0; non <= 1.0001; non += 0.02) {
    for (let adv = 0; adv <= 1.0001; adv += 0.02) {
      for (const base of [0, 0.1, 0.3, 0.6]) {
        if (sanityDecides(non, adv, base)) {
          decided++;
          continue;
        }
        skipped++;
        assert.equal(
          verdictOf(non, adv, base, true),
          verdictOf(non, adv, base, false),
          `non ${non} adv ${adv} base ${base}`,
        );
      }
    }
  }
  assert.ok(skipped > 0 && decided > 0);
  // a row that holds with passing checks is one where they decide
  assert.equal(verdictOf(0.9, 0.85, 0.1, true), 'holds');
  assert.ok(sanityDecides(0.9, 0.85, 0.1));
});

test('quick scorecard: once the images already fooled make a row broken, no further fooled image changes the verdict', () => {
  let decided = 0;
  for (let nc = 1; nc <= 70; nc++)
    for (const base of [0, 0.02, 0.1, 0.35])
      for (let fu = 0; fu <= nc; fu++) {
        // the measure: protected = 1 − fooledAndUndetected, fooledAndUndetected = fu / nc (src/eval/scorecard.ts)
        const broken = verdictOf(1, 1 - fu / nc, base, true) === 'broken';
        assert.equal(brokenAt(fu, nc, base), broken, `nc ${nc} base ${base} fu ${fu}`);
        if (!brokenAt(fu, nc, base)) continue;
        decided++;
        for (let more = fu; more <= nc; more++)
          for (const non of [0, 0.5, 1])
            for (const sane of [true, false]) assert.equal(verdictOf(non, 1 - more / nc, base, sane), 'broken');
      }
  assert.ok(decided > 0);
  assert.equal(brokenAt(0, 0, 0), false, 'no correct image: nothing to decide');
});
