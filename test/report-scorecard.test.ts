/**
 * The defence-scorecard page (issue #10): a realistic `medshield.scorecard/1` card whose example
 * images are real PneumoniaMNIST test films (clean | perturbed by ±ε), rendered to HTML and loaded in
 * Chromium: the conclusion with its counts and the signing recommendation, the verdict rule, one
 * table row per defence with coloured verdict badges, two drawn SVG charts, images that decode at
 * 28×28 and are shown enlarged, sanity details, provenance — and not one network request.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadDataset, type Split } from '../src/data/dataset.js';
import { encodePng } from '../src/eval/examples.js';
import { Rng } from '../src/engine/random.js';
import type { Scorecard, ScorecardRow, SanityCheck } from '../src/eval/scorecard-types.js';
import { renderScorecard, writeScorecardReport } from '../src/report/scorecard.js';
import { MedshieldError } from '../src/errors.js';
import { CHROMIUM, launchChromium } from './browser.js';

const EPS = 8 / 255;

/** Test image i as floats in [0,1], and a copy moved ±ε per pixel (seeded), both as PNG data URLs. */
function pair(split: Split, i: number, seed: number): { clean: string; adversarial: string; label: number } {
  const d = split.height * split.width * split.channels;
  const src = split.images;
  const scale = src instanceof Uint8Array ? 1 / 255 : 1;
  const x = Float32Array.from(src.subarray(i * d, (i + 1) * d), (v) => v * scale);
  const rng = new Rng(seed);
  const adv = x.map((v) => Math.min(1, Math.max(0, v + (rng.uniform() < 0.5 ? -EPS : EPS))));
  const url = (a: Float32Array): string =>
    `data:image/png;base64,${encodePng(a, split.height, split.width, split.channels).toString('base64')}`;
  return { clean: url(x), adversarial: url(adv), label: split.labels[i * split.labelWidth] };
}

function checks(failed: string[] = []): SanityCheck[] {
  const c = (name: string, detail: string, values: Record<string, number>): SanityCheck => ({
    name,
    passed: !failed.includes(name),
    detail,
    values,
  });
  return [
    c('large-eps', 'Robust accuracy at ε = 64/255 should fall to (near) zero; measured 0.000.', {
      eps: 64 / 255,
      robustAccuracy: failed.includes('large-eps') ? 0.41 : 0,
    }),
    c('more-steps', 'Robust accuracy with 5× more iterations should not rise.', {
      steps: 100,
      robustAccuracyBefore: 0.031,
      robustAccuracyAfter: 0.025,
    }),
    c(
      'whitebox-beats-transfer',
      'The white-box attack should fool at least as many images as a transfer attack from an independent surrogate.',
      { whitebox: 0.94, transfer: 0.57 },
    ),
    c('gradients', 'Input gradients through the deployed pipeline should be non-zero and finite on every image.', {
      zeroGradientFraction: failed.includes('gradients') ? 0.62 : 0,
      meanNorm: 0.0123,
    }),
  ];
}

async function buildCard(): Promise<Scorecard> {
  const data = await loadDataset('pneumoniamnist');
  const t = data.splits.test;
  const classes = data.info.classes;
  const ofClass = (k: number): number[] => {
    const out: number[] = [];
    for (let i = 0; i < t.n && out.length < 4; i++) if (t.labels[i * t.labelWidth] === k) out.push(i);
    return out;
  };
  const examples = (idx: number[], scores: boolean): ScorecardRow['examples'] =>
    idx.map((i, j) => {
      const p = pair(t, i, 100 + i);
      return {
        index: i,
        label: classes[p.label],
        predicted: classes[1 - p.label],
        ...(scores ? { score: 0.31 + 0.07 * j } : {}),
        clean: p.clean,
        adversarial: p.adversarial,
      };
    });
  const sick = ofClass(1);
  const normal = ofClass(0);
  const row = (r: Partial<ScorecardRow> & Pick<ScorecardRow, 'defence' | 'kind' | 'verdict'>): ScorecardRow => ({
    reference: '',
    cleanAccuracy: 0.86,
    gradientMasking: false,
    examples: [],
    notes: [],
    seconds: 41.7,
    nonAdaptive: {
      attack: 'pgd-20',
      robustAccuracy: 0.05,
      detectionAuc: null,
      tprAt5Fpr: null,
      fooledAndUndetected: 0.94,
    },
    adaptive: { attack: 'pgd-100', robustAccuracy: 0.0, detectionAuc: null, tprAt5Fpr: null, fooledAndUndetected: 1 },
    sanity: { passed: true, failures: [], checks: checks() },
    ...r,
  });
  return {
    schema: 'medshield.scorecard/1',
    model: { name: 'pneumonia-cnn', architecture: 'cnn (width 16)', dir: 'models/pneumonia-cnn' },
    dataset: 'pneumoniamnist',
    split: 'test',
    n: 128,
    eps: EPS,
    epsText: '8/255',
    norm: 'linf',
    quick: true,
    seed: 0,
    verdictRule:
      'broken: the adaptive attack leaves robust accuracy (detectors: fooled-and-undetected) within 10 ' +
      'points of the undefended model; weakened: the defence keeps more than 10 points but an adaptive ' +
      'attack still fools over 20 % of correct diagnoses, or a sanity check failed; holds: otherwise.',
    rows: [
      row({
        defence: 'jpeg:q=75',
        kind: 'transform',
        verdict: 'broken',
        reference: 'Das et al. 2017 (JPEG compression); BPDA: Athalye et al. 2018',
        cleanAccuracy: 0.84,
        nonAdaptive: {
          attack: 'pgd-20',
          robustAccuracy: 0.58,
          detectionAuc: null,
          tprAt5Fpr: null,
          fooledAndUndetected: 0.31,
        },
        adaptive: {
          attack: 'bpda+pgd-100',
          robustAccuracy: 0.02,
          detectionAuc: null,
          tprAt5Fpr: null,
          fooledAndUndetected: 0.98,
        },
        gradientMasking: true,
        sanity: { passed: false, failures: ['gradients'], checks: checks(['gradients']) },
        examples: examples(sick.slice(0, 2), false),
      }),
      row({
        defence: 'smoothing:sigma=0.25',
        kind: 'smoothing',
        verdict: 'weakened',
        reference: 'Cohen et al. 2019 (randomized smoothing); EOT: Athalye et al. 2018',
        cleanAccuracy: 0.8,
        nonAdaptive: {
          attack: 'pgd-20',
          robustAccuracy: 0.66,
          detectionAuc: null,
          tprAt5Fpr: null,
          fooledAndUndetected: 0.18,
        },
        adaptive: {
          attack: 'eot+pgd-100',
          robustAccuracy: 0.39,
          detectionAuc: null,
          tprAt5Fpr: null,
          fooledAndUndetected: 0.51,
        },
        examples: examples(normal.slice(0, 1), false),
      }),
      row({
        defence: 'adversarial-training',
        kind: 'training',
        verdict: 'holds',
        reference: 'Madry et al. 2018',
        cleanAccuracy: 0.79,
        nonAdaptive: {
          attack: 'pgd-20',
          robustAccuracy: 0.61,
          detectionAuc: null,
          tprAt5Fpr: null,
          fooledAndUndetected: 0.23,
        },
        adaptive: {
          attack: 'apgd-ensemble-100',
          robustAccuracy: 0.57,
          detectionAuc: null,
          tprAt5Fpr: null,
          fooledAndUndetected: 0.28,
        },
        notes: ['trained with PGD-7 at ε = 8/255 for 10 epochs'],
      }),
      row({
        defence: 'kd_bu',
        kind: 'detector',
        verdict: 'broken',
        reference: 'Feinman et al. 2017 (kernel density + Bayesian uncertainty); Carlini & Wagner 2017',
        nonAdaptive: {
          attack: 'pgd-20',
          robustAccuracy: 0.05,
          detectionAuc: 0.97,
          tprAt5Fpr: 0.88,
          fooledAndUndetected: 0.11,
        },
        adaptive: {
          attack: 'joint+pgd-100',
          robustAccuracy: 0.01,
          detectionAuc: 0.44,
          tprAt5Fpr: 0.03,
          fooledAndUndetected: 0.96,
        },
        examples: examples([...sick.slice(2, 4), ...normal.slice(1, 3)], true),
      }),
      row({
        defence: 'magnet',
        kind: 'detector',
        verdict: 'broken',
        reference: 'Meng & Chen 2017 (MagNet); Carlini & Wagner 2017',
        nonAdaptive: {
          attack: 'pgd-20',
          robustAccuracy: 0.05,
          detectionAuc: 0.91,
          tprAt5Fpr: 0.62,
          fooledAndUndetected: 0.34,
        },
        adaptive: {
          attack: 'joint+pgd-100',
          robustAccuracy: 0.03,
          detectionAuc: 0.52,
          tprAt5Fpr: 0.06,
          fooledAndUndetected: 0.89,
        },
        examples: examples(normal.slice(3, 4), true),
      }),
    ],
    baseline: { cleanAccuracy: 0.86, robustAccuracy: 0.04, attack: 'pgd-20' },
    seconds: 312.4,
    medshieldVersion: '0.9.0',
    notes: ['Quick run: 128 images and shortened attacks; run without --quick for the full evaluation.'],
  };
}

test('the scorecard page: conclusion, rule, table, charts, images, sanity details, provenance — offline', {
  skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (Debian package chromium)`,
}, async (t) => {
  const card = await buildCard();
  const command = 'medshield scorecard --model models/pneumonia-cnn --eps 8/255 --quick --report scorecard.html';
  const html = await renderScorecard(card, { command });

  // Static properties of the page.
  assert.match(html, /Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'"/);
  assert.ok(!/(src|href)\s*=\s*"?(https?:)?\/\//i.test(html), 'no external src/href');
  assert.ok(!html.includes('vega.github.io'), 'the Vega-Lite schema URL is not emitted');
  assert.ok(!/<script(?![^>]*application\/json)/.test(html), 'no executable script');
  assert.match(html, /<svg/);
  assert.equal((html.match(/<img /g) ?? []).length, 2 * card.rows.reduce((s, r) => s + r.examples.length, 0));
  for (const r of card.rows)
    for (const e of r.examples) assert.ok(html.includes(`src="${e.clean}"`) && html.includes(`src="${e.adversarial}"`));
  assert.ok(html.includes('image-rendering:pixelated'));
  assert.ok(html.includes(card.verdictRule));

  const dir = mkdtempSync(path.join(tmpdir(), 'ms-scorecard-'));
  const file = path.join(dir, 'deep', 'scorecard.html');
  await writeScorecardReport(file, card, { command });
  assert.equal(readFileSync(file, 'utf8').length, html.length);
  t.diagnostic(`page: ${file}`);

  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 1600 } });
    const requests: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith('file:') && !r.url().startsWith('data:')) requests.push(r.url());
    });
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    // Percentages are written with a no-break space before '%'.
    const text = async (sel: string): Promise<string> => ((await page.textContent(sel)) ?? '').replace(/\u00a0/g, ' ');

    const conclusion = await text('#conclusion');
    assert.match(
      conclusion,
      /Of the 3 defences and 2 detectors tested on pneumonia-cnn on pneumoniamnist \(test split, 128 images, perturbations up to ε = 8\/255 in L∞\): 3 broken, 1 weakened, 1 holds\./,
    );
    assert.match(conclusion, /up to 98\.0 % of correct diagnoses/);
    assert.match(conclusion, /Gradient masking: jpeg:q=75/);
    assert.match(conclusion, /adversarial-training held against the adaptive attacker and passed every sanity check/);
    assert.match(conclusion, /Amit et al\..*every defence falls to an informed attacker who knows it/);
    const rec = await text('#recommendation');
    for (const s of [
      /sign every image from the scanner to the model/,
      /medshield dicom sign/,
      /medshield dicom verify/,
      /medshield gateway/,
      /signatures/,
    ])
      assert.match(rec, s);
    assert.equal((await text('#verdict-rule')).trim(), card.verdictRule);

    const rows = await page.$$eval('#scorecard tbody tr', (trs) =>
      trs.map((tr) =>
        [...tr.querySelectorAll('td')].map((td) => (td.textContent ?? '').replace(/\u00a0/g, ' ').trim()),
      ),
    );
    assert.equal(rows.length, card.rows.length);
    assert.deepEqual(
      rows.map((r) => r[0]),
      card.rows.map((r) => r.defence),
    );
    assert.deepEqual(
      rows.map((r) => r[r.length - 1]),
      card.rows.map((r) => r.verdict),
    );
    // jpeg: 58.0 % → 2.0 %, fooled 31.0 % → 98.0 %, sanity names the failed check, masking flagged.
    assert.deepEqual(rows[0].slice(2, 13), [
      '84.0 %',
      'pgd-20',
      '58.0 %',
      '—',
      '—',
      '31.0 %',
      'bpda+pgd-100',
      '2.0 %',
      '—',
      '—',
      '98.0 %',
    ]);
    assert.match(rows[0][13], /✗ gradients/);
    assert.match(rows[0][14], /yes/);
    assert.equal(rows[2][13], '✓');
    assert.deepEqual(
      rows.map((r) => r[1]),
      card.rows.map((r) => r.kind),
    );
    // kd_bu: detection AUC and TPR at 5 % FPR before and after.
    assert.deepEqual([rows[3][5], rows[3][6], rows[3][10], rows[3][11]], ['0.970', '88.0 %', '0.440', '3.0 %']);
    const badges = await page.$$eval('#scorecard .badge', (els) =>
      els.map((e) => ({ text: e.textContent, bg: getComputedStyle(e).backgroundColor })),
    );
    assert.deepEqual(
      badges.map((b) => b.text),
      card.rows.map((r) => r.verdict),
    );
    assert.equal(badges[0].bg, 'rgb(180, 35, 24)');
    assert.equal(badges[1].bg, 'rgb(176, 120, 0)');
    assert.equal(badges[2].bg, 'rgb(26, 127, 55)');
    assert.match(await text('#scorecard tfoot'), /no defence.*86\.0 %.*pgd-20.*4\.0 %/);

    const charts = await page.$$eval('.chart svg', (els) =>
      els.map((e) => ({
        w: (e as SVGSVGElement).getBoundingClientRect().width,
        bars: e.querySelectorAll('.mark-rect path').length,
        text: (e.textContent ?? '').replace(/\u00a0/g, ' '),
      })),
    );
    assert.equal(charts.length, 2);
    assert.equal(charts[0].bars, 2 * card.rows.length);
    assert.equal(charts[1].bars, 3 * card.rows.length);
    assert.match(charts[0].text, /no defence: 95\.3 % flipped/);
    assert.match(charts[1].text, /no defence under pgd-20: 4\.0 %/);
    for (const c of charts) assert.ok(c.w > 300, `chart width ${c.w}`);
    assert.ok(
      await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth),
      'the page fits 1200 px without a horizontal scroll bar',
    );

    const imgs = await page.$$eval('#examples img', (els) =>
      els.map((e) => {
        const i = e as HTMLImageElement;
        return {
          ok: i.complete && i.naturalWidth === 28 && i.naturalHeight === 28,
          shown: i.width,
          r: getComputedStyle(i).imageRendering,
        };
      }),
    );
    assert.equal(imgs.length, 16);
    for (const i of imgs) assert.ok(i.ok && i.shown === 112 && i.r === 'pixelated', JSON.stringify(i));
    const exText = await text('#examples');
    assert.match(exText, /true: pneumonia.*model says: normal/);
    assert.match(exText, /detector score: 0\.3100/);

    const sanity = await text('#sanity');
    assert.match(sanity, /jpeg:q=75 — failed: gradients/);
    assert.match(sanity, /Input gradients through the deployed pipeline should be non-zero/);
    assert.match(sanity, /zeroGradientFraction = 0\.62/);
    assert.match(await text('#notes'), /adversarial-training: trained with PGD-7/);
    const prov = await text('#provenance');
    for (const s of [
      'pneumonia-cnn',
      'cnn (width 16)',
      'split test, 128 images',
      'ε = 8/255',
      'seed0',
      '312.4 s',
      '0.9.0',
    ])
      assert.ok(prov.replace(/\n/g, '').includes(s), `${s} in ${prov}`);
    assert.equal(await page.textContent('#command'), command);
    const data = JSON.parse((await page.textContent('#scorecard-data')) ?? '{}');
    assert.equal(data.schema, 'medshield.scorecard/1');
    assert.equal(data.rows[3].examples[0].index, card.rows[3].examples[0].index);
    assert.equal(data.rows[3].examples[0].clean, undefined, 'images are not duplicated in the JSON');

    assert.deepEqual(requests, [], 'the page fetched nothing from the network');
    await page.screenshot({ path: path.join(dir, 'scorecard.png'), fullPage: true });
  } finally {
    await browser.close();
  }
});

test('the scorecard page refuses images that are not PNG data URLs and cards of another schema', async () => {
  const card = await buildCard();
  const bad = structuredClone(card);
  bad.rows[0].examples[0].adversarial = 'https://example.org/x.png';
  await assert.rejects(
    renderScorecard(bad, { command: 'x' }),
    (e: unknown) =>
      e instanceof MedshieldError &&
      e.code === 'BAD_INPUT' &&
      /jpeg:q=75.*example 0: adversarial image must be a PNG data URL/.test(e.message),
  );
  await assert.rejects(
    renderScorecard({ ...card, schema: 'medshield.scorecard/0' } as unknown as Scorecard, { command: 'x' }),
    /expected schema 'medshield\.scorecard\/1'/,
  );
});

test('a scorecard where everything held says so honestly and still recommends signatures', async () => {
  const card = await buildCard();
  const held: Scorecard = { ...card, rows: [card.rows[2]] };
  const html = await renderScorecard(held, { command: 'x' });
  const text = html.replace(/<[^>]+>/g, '').replace(/\u00a0/g, ' ');
  assert.match(text, /Of the 1 defence tested on .*: 0 broken, 0 weakened, 1 holds\./);
  assert.match(
    text,
    /adversarial-training held against the adaptive attacker and passed every sanity check\. That is a real result, but only for this ε/,
  );
  assert.match(text, /not a safeguard on its own, even when, as here, none was broken/);
  assert.match(text, /medshield dicom sign/);
  assert.ok(!html.includes('Gradient masking:'));
});
