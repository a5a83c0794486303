/**
 * Campaign specs (issue 22, item 2): the issue's minimal `smoke` spec is accepted as written, in YAML and
 * as the same JSON, with the same id; `campaign plan` expands it into the expected jobs with stable keys
 * and a cost estimate; bad specs fail with exit 2 and one line naming the field.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  parseCampaignSpec,
  loadCampaignSpec,
  planCampaign,
  planSummary,
  campaignId,
  jobSeed,
} from '../src/api/campaign/index.js';
import { initEngine } from '../src/engine/index.js';
import { MedshieldError } from '../src/errors.js';
import { getAttack } from '../src/attacks/registry.js';
import { cli, isCleanError } from './helpers.js';

export const SMOKE_YAML = `name: smoke
seed: 0
models: [{ ref: default }]            # a shipped name, a model directory or an imported ONNX model directory
data: { dataset: pneumoniamnist, split: test, limit: 64 }
attacks:
  - { attack: pgd, eps: [2/255, 8/255], steps: 20 }
  - { attack: square, eps: [8/255], maxQueries: 500 }
detectors:
  - { detector: kd_bu, trainAttack: pgd, eps: [8/255] }
shardSize: 16
`;

const SMOKE_JSON = {
  name: 'smoke',
  seed: 0,
  models: [{ ref: 'default' }],
  data: { dataset: 'pneumoniamnist', split: 'test', limit: 64 },
  attacks: [
    { attack: 'pgd', eps: ['2/255', '8/255'], steps: 20 },
    { attack: 'square', eps: ['8/255'], maxQueries: 500 },
  ],
  detectors: [{ detector: 'kd_bu', trainAttack: 'pgd', eps: ['8/255'] }],
  shardSize: 16,
};

const dir = mkdtempSync(path.join(tmpdir(), 'medshield-campaign-spec-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const write = (name: string, text: string): string => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};

test('the smoke spec is accepted as written, from YAML and from JSON, with the same id and hash', async () => {
  const y = await loadCampaignSpec(write('smoke.yaml', SMOKE_YAML));
  const j = await loadCampaignSpec(write('smoke.json', JSON.stringify(SMOKE_JSON, null, 1)));
  assert.equal(campaignId(y), campaignId(j));
  assert.match(campaignId(y), /^smoke-[0-9a-f]{12}$/);
  assert.deepEqual(y.attacks[0].eps, [
    { value: 2 / 255, text: '2/255' },
    { value: 8 / 255, text: '8/255' },
  ]);
  assert.equal(y.detectors[0].testAttacks[0], 'pgd');
  // ε as numbers is the same budget, though a different spec text (and so a different id)
  const n = parseCampaignSpec(
    JSON.stringify({ ...SMOKE_JSON, attacks: [{ attack: 'pgd', eps: [8 / 255] }] }),
    'x',
    true,
  );
  assert.equal(n.attacks[0].eps[0].value, 8 / 255);
});

test('plan: one job per model × attack × ε × shard plus one per detector × ε, with stable keys and seeds', () => {
  const spec = parseCampaignSpec(SMOKE_YAML);
  const plan = planCampaign(spec);
  assert.equal(plan.shards, 4);
  assert.equal(plan.jobs.length, 3 * 4 + 1);
  assert.deepEqual(
    plan.jobs.slice(0, 4).map((j) => j.key),
    [
      'atk.default.pgd.e2_255.s0000',
      'atk.default.pgd.e2_255.s0001',
      'atk.default.pgd.e2_255.s0002',
      'atk.default.pgd.e2_255.s0003',
    ],
  );
  const last = plan.jobs[plan.jobs.length - 1];
  assert.equal(last.key, 'det.default.kd_bu.pgd.e8_255');
  const a = plan.jobs[5];
  assert.ok(a.kind === 'attack' && a.range[0] === 16 && a.range[1] === 32);
  assert.equal(a.seed, jobSeed(0, a.key));
  assert.deepEqual(
    planCampaign(parseCampaignSpec(SMOKE_YAML)).jobs.map((j) => j.seed),
    plan.jobs.map((j) => j.seed),
  );
  assert.ok(
    plan.estimate.seconds > 0 && plan.estimate.gradientPasses === 2 * 64 * 20 + 2 * 64 * getAttack('pgd').defaultSteps,
    JSON.stringify(plan.estimate),
  );
  assert.ok(plan.estimate.forwardPasses >= 64 * 500, 'square: budget × images forward passes');
});

test('bad specs name the field', () => {
  const bad: Array<[string, RegExp]> = [
    [SMOKE_YAML.replace('shardSize: 16', 'shardSize: 0'), /shardSize must be >= 1/],
    [SMOKE_YAML.replace('2/255, 8/255', '2/255, -8/255'), /attacks\.0\.eps\.1 ε must be greater than 0/],
    [SMOKE_YAML.replace('attack: square', 'attack: squares'), /attacks\.1\.attack: unknown attack 'squares'/],
    [SMOKE_YAML.replace('detector: kd_bu', 'detector: kdbu'), /detectors\.0\.detector: unknown detector 'kdbu'/],
    [SMOKE_YAML.replace('trainAttack: pgd', 'trainAttack: square'), /detectors\.0\.trainAttack: .*white-box/],
    [
      SMOKE_YAML.replace('split: test', 'split: tset'),
      /data\.split must be equal to one of the allowed values \(train, val, test\)/,
    ],
    [SMOKE_YAML.replace('seed: 0', 'seed: 0\nsead: 1'), /must NOT have additional properties 'sead'/],
    [SMOKE_YAML.replace('models: [{ ref: default }]', 'models: []'), /models must NOT have fewer than 1 items/],
    [SMOKE_YAML.replace('name: smoke', 'name: "smoke test"'), /name must match pattern/],
    ['name: [unclosed', /not valid YAML/],
  ];
  for (const [text, re] of bad) {
    assert.throws(
      () => parseCampaignSpec(text, 'campaign spec s.yaml'),
      (e: unknown) =>
        e instanceof MedshieldError && e.code === 'BAD_INPUT' && re.test(e.message) && !e.message.includes('\n'),
      re.source,
    );
  }
});

test('CLI: campaign plan prints the job count and an estimate; a bad spec exits 2 with one line naming the field', () => {
  const r = cli(['campaign', 'plan', write('smoke.yaml', SMOKE_YAML), '--json']);
  assert.equal(r.code, 0, r.stderr);
  const p = JSON.parse(r.stdout);
  assert.equal(p.jobs, 13);
  assert.equal(p.attackJobs, 12);
  assert.equal(p.detectionJobs, 1);
  assert.match(p.id, /^smoke-[0-9a-f]{12}$/);
  assert.ok(
    p.estimate.seconds > 0 && p.estimate.gradientSecondsPerImage > 0 && p.estimate.backend !== 'nominal',
    JSON.stringify(p.estimate),
  );
  const bad = cli(['campaign', 'plan', write('bad.yaml', SMOKE_YAML.replace('steps: 20', 'steps: many')), '--json']);
  assert.ok(isCleanError(bad), bad.stderr);
  assert.match(bad.stderr, /campaign spec bad\.yaml: attacks\.0\.steps must be integer/);
  const missing = cli(['campaign', 'run', path.join(dir, 'nope.yaml'), '--json']);
  assert.ok(isCleanError(missing), missing.stderr);
  const queue = cli(['campaign', 'run', path.join(dir, 'smoke.yaml'), '--queue', 'redis://127.0.0.1:1', '--json']);
  assert.ok(isCleanError(queue) || queue.code === 2, queue.stderr);
});

test('the smoke spec keeps its id from before defences, scorecard rows, HTTP models and transfer were added', () => {
  assert.equal(campaignId(parseCampaignSpec(SMOKE_YAML)), 'smoke-361c0eb19564');
});

const FULL_YAML = `name: full
seed: 0
models:
  - { ref: default }
  - { ref: "http://127.0.0.1:8500/predict", name: api, target: { output: label, paceMs: 10 } }
data: { dataset: pneumoniamnist, split: test, limit: 32 }
attacks:
  - { attack: pgd, eps: [8/255], steps: 10, models: [default] }
  - { attack: square, eps: [8/255], maxQueries: 100 }
  - { attack: transfer, eps: [8/255], surrogates: [surrogate], baseAttack: fgsm }
defences:
  - { defence: jpeg, quality: 75, attacks: [fgsm, pgd], eps: [2/255, 8/255], models: [default] }
  - { defence: "bitdepth:bits=4+median:k=3", eps: [8/255], steps: 5, models: [default] }
scorecard: { defences: [jpeg:q=75, kd_bu], eps: [8/255], quick: true, models: [default] }
shardSize: 16
`;

test('defences, scorecard rows, an HTTP model and transfer: parsed, planned and counted', () => {
  const spec = parseCampaignSpec(FULL_YAML);
  assert.equal(spec.models[1].name, 'api');
  assert.deepEqual(spec.models[1].target, { output: 'label', paceMs: 10 });
  assert.equal(spec.defences![0].defence, 'jpeg:q=75', '`quality` is jpeg’s q');
  assert.equal(spec.defences![0].name, 'jpeg:q=75');
  assert.deepEqual(spec.defences![1].attacks, ['pgd'], 'default attack: pgd');
  assert.equal(spec.defences![1].defence, 'bitdepth:bits=4+median:k=3');
  assert.deepEqual(spec.scorecard!.defences, ['jpeg:q=75', 'kd_bu']);
  assert.equal(spec.attacks[2].baseAttack, 'fgsm');
  const plan = planCampaign(spec);
  const kinds = (k: string): string[] => plan.jobs.filter((j) => j.kind === k).map((j) => j.key);
  // pgd on default only; square and transfer on both models; 2 shards each
  assert.equal(kinds('attack').length, 2 + 2 * 2 + 2 * 2);
  assert.ok(kinds('attack').includes('atk.api.square.e8_255.s0001'));
  assert.ok(!kinds('attack').some((k) => k.startsWith('atk.api.pgd')));
  // jpeg: 2 attacks × 2 ε × 2 shards; bitdepth+median: pgd × 1 ε × 2 shards — default model only
  assert.equal(kinds('defend').length, 8 + 2);
  assert.ok(kinds('defend').includes('def.default.jpeg_q_75.fgsm.e2_255.s0000'));
  assert.deepEqual(kinds('scorecard'), ['sc.default.jpeg_q_75.e8_255', 'sc.default.kd_bu.e8_255']);
  const def = plan.jobs.find((j) => j.kind === 'defend')!;
  assert.equal(def.seed, jobSeed(0, def.key));
  const api = plan.jobs.find((j) => j.key === 'atk.api.square.e8_255.s0000')!;
  assert.equal(api.model.ref, 'http://127.0.0.1:8500/predict', 'a URL is not resolved as a path');
  const tr = plan.jobs.find((j) => j.key === 'atk.default.transfer.e8_255.s0000')!;
  assert.ok(tr.kind === 'attack' && tr.attack.surrogates?.[0] === 'surrogate');
  // every new job is costed
  const est = planCampaign({ ...spec, defences: undefined, scorecard: undefined }).estimate;
  assert.ok(plan.estimate.gradientPasses > est.gradientPasses + 2 * 1000, JSON.stringify([plan.estimate, est]));
});

test('what cannot run is refused with the field: white-box work on an HTTP model, transfer without surrogates, bad defences', () => {
  const bad: Array<[string, RegExp]> = [
    [
      FULL_YAML.replace(', models: [default] }\n  - { attack: square', ' }\n  - { attack: square'),
      /attacks\.0: white-box attacks \('pgd'\) need the model's weights; 'api' is an HTTP endpoint/,
    ],
    [FULL_YAML.replace(', surrogates: [surrogate], baseAttack: fgsm', ''), /attacks\.2\.surrogates: 'transfer' needs/],
    [FULL_YAML.replace('baseAttack: fgsm', 'baseAttack: square'), /attacks\.2\.baseAttack must be a white-box attack/],
    [FULL_YAML.replace('quality: 75', 'quality: 750'), /defences\.0\.defence: defence 'jpeg': q must be ≥ 1 and ≤ 100/],
    [FULL_YAML.replace('quality: 75', 'qualty: 75'), /defences\.0\.defence: defence 'jpeg' has no parameter 'qualty'/],
    [FULL_YAML.replace('attacks: [fgsm, pgd]', 'attacks: [square]'), /defences\.0\.attacks\.0: .*white-box/],
    [FULL_YAML.replace('kd_bu], eps', 'kd_bux], eps'), /scorecard\.defences: unknown defence or detector 'kd_bux'/],
    [FULL_YAML.replace('quick: true, models: [default]', 'quick: true'), /scorecard: scorecard rows need .* 'api'/],
    [
      FULL_YAML.replace('paceMs: 10 }', 'paceMs: 10 }, sha256: "' + '0'.repeat(64) + '"'),
      /an HTTP endpoint has no weights/,
    ],
    [
      FULL_YAML.replace('models: [default] }\n  - { defence: "bit', 'models: [dflt] }\n  - { defence: "bit'),
      /defences\.0\.models: no model named 'dflt'/,
    ],
  ];
  for (const [text, re] of bad) {
    assert.throws(
      () => parseCampaignSpec(text, 'campaign spec f.yaml'),
      (e: unknown) =>
        e instanceof MedshieldError && e.code === 'BAD_INPUT' && re.test(e.message) && !e.message.includes('\n'),
      re.source,
    );
  }
});

test('planSummary (what `campaign plan --json` prints) counts and estimates defence and scorecard jobs; the HTTP model is not contacted', async () => {
  await initEngine({ threads: 1 });
  const p = await planSummary(await loadCampaignSpec(write('full.yaml', FULL_YAML)));
  assert.deepEqual(
    [p.jobs, p.attackJobs, p.defenceJobs, p.scorecardJobs, p.detectionJobs],
    [10 + 10 + 2, 10, 10, 2, 0],
  );
  assert.ok(p.estimate.seconds > 0 && p.estimate.backend !== 'nominal', JSON.stringify(p.estimate));
});
