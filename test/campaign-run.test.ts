/**
 * A small campaign run in process on SQLite (default model, PneumoniaMNIST test split, 16 images in two
 * shards of 8): the status object has the fields; FGSM (deterministic) equals `medshield attack
 * --attack fgsm --eps 8/255 --limit 16` computed directly on the whole sample; PGD equals the same
 * library calls per shard with the derived seeds; KD+BU equals `evaluateDetection`. Interrupted after two
 * jobs (abort signal) and re-run, only the missing jobs run and no row is written twice; `campaign
 * status`, `export --format json|csv` and `report` read the store.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { initEngine } from '../src/engine/index.js';
import { loadModel } from '../src/models/io.js';
import type { DifferentiableModel } from '../src/models/model.js';
import { loadDataset } from '../src/data/dataset.js';
import { selectImages } from '../src/data/images.js';
import { getAttack } from '../src/attacks/registry.js';
import { evaluateAttack } from '../src/eval/robustness.js';
import { evaluateDetection } from '../src/eval/detection.js';
import { round } from '../src/models/metrics.js';
import * as C from '../src/api/campaign/index.js';
import { attack, defend } from '../src/api/index.js';
import { sliceImages } from '../src/api/campaign/compute.js';
import { cli } from './helpers.js';

export const SMALL_YAML = `name: small
seed: 0
models: [{ ref: default }]
data: { dataset: pneumoniamnist, split: test, limit: 16 }
attacks:
  - { attack: fgsm, eps: [8/255] }
  - { attack: pgd, eps: [8/255], steps: 4 }
detectors:
  - { detector: kd_bu, trainAttack: fgsm, eps: [8/255], fitLimit: 24 }
shardSize: 8
`;

const dir = mkdtempSync(path.join(tmpdir(), 'medshield-campaign-run-'));
const specFile = path.join(dir, 'small.yaml');
let store: C.CampaignStore;
let spec: C.CampaignSpec;
let status: C.CampaignStatus;

before(async () => {
  await initEngine({ threads: 1 });
  writeFileSync(specFile, SMALL_YAML);
  spec = await C.loadCampaignSpec(specFile);
  store = await C.openStore(undefined, specFile);
});
after(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('interrupted after two jobs, re-run: only the missing jobs run, no row twice; the status object has the issue fields', async () => {
  const ac = new AbortController();
  const first: string[] = [];
  const s1 = await C.runCampaignLocal(spec, {
    store,
    signal: ac.signal,
    onJob: (j, _r, e) => {
      assert.ifError(e);
      first.push(j.key);
      if (first.length === 2) ac.abort();
    },
  });
  assert.equal(first.length, 2);
  assert.equal(s1.status, 'planned');
  assert.deepEqual(s1.shards, { total: 5, done: 2, failed: 0 });
  const second: string[] = [];
  status = await C.runCampaignLocal(spec, {
    store,
    onJob: (j, r, e) => {
      assert.ifError(e);
      assert.ok(r?.written);
      second.push(j.key);
    },
  });
  const plan = C.planCampaign(spec);
  assert.deepEqual(
    [...first, ...second].sort(),
    plan.jobs.map((j) => j.key).sort(),
    'each job ran exactly once over the two runs',
  );
  assert.equal(status.status, 'done');
  assert.deepEqual(status.shards, { total: 5, done: 5, failed: 0 });
  const third: string[] = [];
  await C.runCampaignLocal(spec, { store, onJob: (j) => third.push(j.key) });
  assert.deepEqual(third, []);
  // the fields
  for (const k of ['id', 'name', 'status', 'shards', 'results', 'detection', 'seconds']) assert.ok(k in status, k);
  assert.equal(status.id, C.campaignId(spec));
  assert.equal(status.results.length, 2);
  for (const r of status.results) {
    for (const k of ['model', 'attack', 'eps', 'n', 'cleanAccuracy', 'robustAccuracy', 'attackSuccessRate'])
      assert.ok(k in r, k);
    assert.equal(r.n, 16);
    assert.equal(r.eps, 8 / 255);
    assert.equal(r.model, 'default');
  }
  assert.equal(status.detection.length, 1);
  for (const k of ['model', 'detector', 'attack', 'eps', 'auc', 'tprAt5Fpr']) assert.ok(k in status.detection[0], k);
  // stored once: 5 results, 16 samples per attack row, unique keys; a second write of a result is refused
  const rows = await store.results(status.id);
  assert.equal(rows.length, 5);
  const samples = await store.samples(status.id);
  assert.equal(samples.total, 32);
  assert.equal(new Set(samples.rows.map((s) => s.sampleKey)).size, 32);
  assert.equal(await store.putResult(rows[0]), false);
  for (const r of rows) {
    assert.equal(r.specHash, status.specHash);
    assert.ok(r.backend && r.workerId && r.medshieldVersion);
  }
  const flipped = await C.campaignSamples(store, status.id, { attack: 'pgd', eps: 8 / 255, flipped: true, limit: 2 });
  assert.ok(
    flipped.total > 0 && flipped.rows.length <= 2 && flipped.rows.every((s) => s.success && s.attack === 'pgd'),
  );
  const img = await C.sampleImages(store, status.id, flipped.rows[0].sampleKey);
  assert.ok(
    img && img.clean.subarray(1, 4).toString() === 'PNG' && img.adversarial.subarray(1, 4).toString() === 'PNG',
  );
});

test('numbers equal the direct computations (attack on the whole sample for FGSM, per shard for PGD, evaluateDetection for KD+BU)', async () => {
  assert.ok(status, 'needs the run above');
  const model = (await loadModel('default')) as DifferentiableModel;
  const data = await loadDataset('pneumoniamnist');
  const img = selectImages(data.splits.test, 16, 0);
  const fgsm = (
    await evaluateAttack(model, img, getAttack('fgsm'), {
      eps: 8 / 255,
      norm: 'linf',
      criterion: { kind: 'untargeted' },
      label: 'all',
      seed: 0,
    })
  ).summary;
  const row = status.results.find((r) => r.attack === 'fgsm')!;
  assert.deepEqual(
    [row.cleanAccuracy, row.robustAccuracy, row.attackSuccessRate],
    [fgsm.cleanAccuracy, fgsm.robustAccuracy, fgsm.attackSuccessRate],
  );
  // PGD: the same library call per shard, with the job's derived seed
  const plan = C.planCampaign(spec);
  let clean = 0;
  let robust = 0;
  let attacked = 0;
  let succ = 0;
  for (const j of plan.jobs) {
    if (j.kind !== 'attack' || j.attack.name !== 'pgd') continue;
    const ev = await evaluateAttack(model, sliceImages(img, j.range), getAttack('pgd'), {
      eps: j.eps,
      norm: 'linf',
      criterion: { kind: 'untargeted' },
      label: 'all',
      steps: 4,
      seed: j.seed,
    });
    clean += Math.round(ev.summary.cleanAccuracy * ev.summary.n);
    robust += ev.records.filter((r, i) => r.adversarialPrediction === r.label && i >= 0).length;
    attacked += ev.summary.attacked;
    succ += ev.records.filter((r) => r.success).length;
  }
  const pgd = status.results.find((r) => r.attack === 'pgd')!;
  assert.deepEqual(
    [pgd.cleanAccuracy, pgd.robustAccuracy, pgd.attackSuccessRate],
    [round(clean / 16), round(robust / 16), round(succ / attacked)],
  );
  assert.equal(pgd.cleanAccuracy, fgsm.cleanAccuracy);
  const [det] = await evaluateDetection(model, {
    detectors: ['kd_bu'],
    trainImages: selectImages(data.splits.train, 24, 0),
    testImages: img,
    trainAttack: getAttack('fgsm'),
    testAttacks: [getAttack('fgsm')],
    eps: [{ value: 8 / 255, text: '8/255' }],
    seed: 0,
    attackOptions: () => ({ earlyStop: false }),
  });
  const d = status.detection[0];
  assert.deepEqual(
    [d.auc, d.tprAt5Fpr, d.n, d.fitN],
    [det.results[0].auc, det.results[0].tprAt5Fpr, det.results[0].n, det.results[0].fitN],
  );
});

test('CLI: status and export print the same object; csv has one line per result; report is HTML with results and detection', () => {
  assert.ok(status, 'needs the run above');
  const st = cli(['campaign', 'status', status.id, '--store', C.defaultStorePath(specFile), '--json']);
  assert.equal(st.code, 0, st.stderr);
  assert.deepEqual(JSON.parse(st.stdout), JSON.parse(JSON.stringify(status)));
  const ex = cli(['campaign', 'export', specFile, '--format', 'json']);
  assert.equal(ex.code, 0, ex.stderr);
  assert.deepEqual(JSON.parse(ex.stdout), JSON.parse(st.stdout));
  const csv = cli([
    'campaign',
    'export',
    status.id,
    '--store',
    `sqlite:${C.defaultStorePath(specFile)}`,
    '--format',
    'csv',
  ]);
  assert.equal(csv.code, 0, csv.stderr);
  const lines = csv.stdout.trim().split('\n');
  assert.equal(lines.length, 1 + 5, 'header + one line per stored result (4 attack shards, 1 detection)');
  assert.ok(lines[0].startsWith('job_key,kind,model,attack,eps,shard'));
  const html = path.join(dir, 'r.html');
  const rep = cli(['campaign', 'report', specFile, '--out', html]);
  assert.equal(rep.code, 0, rep.stderr);
  const text = readFileSync(html, 'utf8');
  assert.ok(
    text.includes('id="results"') &&
      text.includes('Detection of adversarial examples') &&
      text.includes('data:image/png;base64,'),
  );
});

test('a model whose weights sha256 differs from the spec is refused: the jobs fail with the reason, the campaign is failed', async () => {
  const bad = C.parseCampaignSpec(
    SMALL_YAML.replace('name: small', 'name: wrong-model')
      .replace('{ ref: default }', `{ ref: default, sha256: "${'0'.repeat(64)}" }`)
      .replace(/detectors:[\s\S]*?shardSize/, 'shardSize'),
  );
  const errors: string[] = [];
  const s = await C.runCampaignLocal(bad, {
    store,
    onJob: (_j, _r, e) => errors.push(e instanceof Error ? e.message : String(e)),
  });
  assert.equal(s.status, 'failed');
  assert.deepEqual(s.shards, { total: 4, done: 0, failed: 4 });
  assert.ok(
    errors.length === 4 &&
      errors.every((m) =>
        /model 'default' .*has weights sha256 [0-9a-f]{12}…, the campaign expects 000000000000…/.test(m),
      ),
    errors[0],
  );
  const f = await store.failures(s.id);
  assert.equal(f.length, 4);
  assert.match(f[0].error, /campaign expects/);
  await assert.rejects(C.campaignStatus(store, 'nope-000000000000'), /no campaign 'nope-000000000000'/);
});

const EXTRA_YAML = `name: extra
seed: 0
models: [{ ref: default }]
data: { dataset: pneumoniamnist, split: test, limit: 8 }
attacks:
  - { attack: transfer, eps: [8/255], surrogates: [surrogate], baseAttack: fgsm }
defences:
  - { defence: jpeg, quality: 75, attacks: [fgsm], eps: [8/255] }
scorecard: { defences: [adversarial-training], eps: [8/255], quick: true }
shardSize: 4
`;

test('defences, transfer and a scorecard row in a campaign: the numbers of the defend and attack verbs, the scorecard row; report and CSV', async () => {
  const file = path.join(dir, 'extra.yaml');
  writeFileSync(file, EXTRA_YAML);
  const spec2 = await C.loadCampaignSpec(file);
  const st = await C.runCampaignLocal(spec2, { store, onJob: (_j, _r, e) => assert.ifError(e) });
  assert.equal(st.status, 'done');
  assert.deepEqual(st.shards, { total: 5, done: 5, failed: 0 });
  const sample = { dataset: 'pneumoniamnist', split: 'test' as const, limit: 8 };
  // FGSM and JPEG are deterministic: the two shards add up to the defend verb on the whole sample
  const d = await defend({ data: sample, defences: ['jpeg:q=75'], attacks: ['fgsm'], eps: ['8/255'], seed: 0 });
  const jpeg = d.rows.find((r) => r.defence === 'jpeg:q=75')!;
  const none = d.rows.find((r) => r.defence === 'none')!;
  assert.equal(st.defences.length, 1);
  const row = st.defences[0];
  assert.deepEqual([row.defence, row.attack, row.n, row.shards.done, row.adaptive], ['jpeg:q=75', 'fgsm', 8, 2, false]);
  assert.deepEqual(
    [row.cleanAccuracy, row.robustAccuracy, row.undefendedCleanAccuracy, row.undefendedRobustAccuracy],
    [jpeg.cleanAccuracy, jpeg.robustAccuracy, none.cleanAccuracy, none.robustAccuracy],
  );
  // transfer with an FGSM base attack (deterministic) on the shipped surrogate = the attack verb on the whole sample
  const t = await attack({
    data: sample,
    attack: 'transfer',
    surrogates: ['surrogate'],
    baseAttack: 'fgsm',
    eps: '8/255',
    seed: 0,
  });
  const tr = st.results.find((r) => r.attack === 'transfer')!;
  assert.deepEqual(
    [tr.n, tr.cleanAccuracy, tr.robustAccuracy, tr.attackSuccessRate],
    [8, t.runs[0].summary.cleanAccuracy, t.runs[0].summary.robustAccuracy, t.runs[0].summary.attackSuccessRate],
  );
  // the scorecard row (the cheapest row: the shipped PGD-trained model under APGD; a scorecard call costs ~40 s
  // under load, so it is not recomputed here): the scorecard verb's row on the same 8 test images — its
  // undefended baseline is the defend verb's `none` row
  assert.equal(st.scorecard.length, 1);
  const sc = st.scorecard[0];
  assert.deepEqual([sc.defence, sc.n, sc.quick, sc.epsText], ['adversarial-training', 8, true, '8/255']);
  assert.ok(['holds', 'weakened', 'broken'].includes(sc.verdict), sc.verdict);
  assert.equal(sc.baseline.cleanAccuracy, none.cleanAccuracy);
  assert.ok(sc.adaptive.fooledAndUndetected >= 0 && sc.adaptive.fooledAndUndetected <= 1 && sc.adaptive.attack);
  const stored = (await store.results(st.id)).find((r) => r.kind === 'scorecard')!;
  assert.equal(stored.jobKey, 'sc.default.adversarial-training.e8_255');
  assert.equal((stored.result as C.ScorecardJobResult).row.verdict, sc.verdict);
  // stored once, exported and reported
  assert.equal(await store.putResult((await store.results(st.id))[0]), false);
  const csv = (await C.campaignCsv(store, st.id)).trim().split('\n');
  assert.equal(csv.length, 1 + 5);
  assert.ok(csv[0].endsWith(',defence,verdict'));
  assert.ok(
    csv.some((l) => l.startsWith('sc.default.adversarial-training.e8_255,scorecard,') && l.endsWith(`,${sc.verdict}`)),
  );
  assert.equal(csv.filter((l) => /^def\.default\.jpeg_q_75\.fgsm\.e8_255\.s000[01],defend,/.test(l)).length, 2);
  const html = await C.campaignReportHtml(store, st.id);
  assert.ok(html.includes('id="defences"') && html.includes('id="scorecard"') && html.includes('jpeg:q=75'));
  assert.ok(C.statusText(st).includes('scorecard adversarial-training'));
});
