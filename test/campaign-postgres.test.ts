/**
 * The campaign store on PostgreSQL (`--store postgres://…`, for many machines): a small FGSM campaign
 * (default model, 16 PneumoniaMNIST test images, two shards) interrupted after one job and resumed;
 * two runners racing on the same campaign write every result once (insert-if-absent), with the same
 * numbers as the SQLite store; the CLI reads it back. The server comes from MEDSHIELD_PG_URL or
 * scripts/start-postgres.sh (Debian `postgresql`); without one the tests skip with the reason.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { initEngine } from '../src/engine/index.js';
import * as C from '../src/api/campaign/index.js';
import { cli, postgresServer } from './helpers.js';

const srv = postgresServer();
const skip = srv.skip;
let dbUrl = '';
let dbName = '';
const dir = mkdtempSync(path.join(tmpdir(), 'medshield-campaign-pg-'));

const SPEC = `name: pg-small
seed: 3
models: [{ ref: default }]
data: { dataset: pneumoniamnist, split: test, limit: 16 }
attacks:
  - { attack: fgsm, eps: [4/255, 8/255] }
shardSize: 8
`;

before(async () => {
  if (skip) return;
  dbName = `medshield_test_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: srv.url! });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  await admin.end();
  const u = new URL(srv.url!);
  u.pathname = `/${dbName}`;
  dbUrl = u.toString();
  await initEngine({ threads: 1 });
});
after(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (skip || !dbName) return;
  const admin = new pg.Client({ connectionString: srv.url! });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await admin.end();
});

test('PostgreSQL store: resume after one job; two racing runners write each result once; same numbers as SQLite; CLI reads it', {
  skip,
}, async () => {
  const spec = C.parseCampaignSpec(SPEC);
  const store = await C.openStore(dbUrl);
  try {
    const s1 = await C.runCampaignLocal(spec, { store, maxJobs: 1 });
    assert.deepEqual(s1.shards, { total: 4, done: 1, failed: 0 });
    assert.equal(s1.status, 'planned');
    // two runners on the same campaign at once (as two workers would): each job's result is stored once
    const store2 = await C.openStore(dbUrl);
    const ran: string[] = [];
    const [a, b] = await Promise.all([
      C.runCampaignLocal(spec, { store, workerId: 'a', onJob: (j) => ran.push(j.key) }),
      C.runCampaignLocal(spec, { store: store2, workerId: 'b', onJob: (j) => ran.push(j.key) }),
    ]);
    await store2.close();
    assert.ok(ran.length >= 3, `the three missing jobs ran (${ran.length} runs, duplicates allowed)`);
    assert.equal(b.status, 'done');
    const final = await C.campaignStatus(store, s1.id);
    assert.deepEqual(final.results, a.results.length ? final.results : a.results);
    assert.deepEqual(final.shards, { total: 4, done: 4, failed: 0 });
    const rows = await store.results(s1.id);
    assert.equal(rows.length, 4);
    const samples = await store.samples(s1.id);
    assert.equal(samples.total, 32);
    assert.equal(new Set(samples.rows.map((r) => r.sampleKey)).size, 32);
    const img = await store.sampleImages(s1.id, samples.rows[0].sampleKey);
    assert.ok(img && img.clean.subarray(1, 4).toString() === 'PNG');
    assert.equal(await store.putResult(rows[0]), false);
    // the same campaign on SQLite gives the same numbers
    const lite = await C.openStore(path.join(dir, 'c.db'));
    try {
      const l = await C.runCampaignLocal(spec, { store: lite });
      assert.deepEqual(l.results, final.results);
    } finally {
      await lite.close();
    }
  } finally {
    await store.close();
  }
  const st = cli(['campaign', 'status', C.campaignId(spec), '--store', dbUrl, '--json']);
  assert.equal(st.code, 0, st.stderr);
  assert.equal(JSON.parse(st.stdout).shards.done, 4);
  const csv = cli(['campaign', 'export', C.campaignId(spec), '--store', dbUrl, '--format', 'csv']);
  assert.equal(csv.stdout.trim().split('\n').length, 1 + 4);
});
