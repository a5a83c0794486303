/**
 * The PostgreSQL audit store (audit.url postgres://…): traffic through a real gateway, chain verify over
 * HTTP and CLI, UPDATE refused by the trigger, and an edited record detected at exactly that record; group
 * commit on PostgreSQL (records arriving during a COMMIT share the next one; each append resolves after its COMMIT).
 * The server comes from MEDSHIELD_PG_URL or scripts/start-postgres.sh (Debian `postgresql`); without
 * one the tests skip with the reason.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { initEngine } from '../src/engine/index.js';
import { loadModel } from '../src/models/io.js';
import { createGateway, loadGatewayConfig, AuditLog, verifyChain } from '../src/gateway/index.js';
import { PostgresAuditStore } from '../src/gateway/audit/postgres.js';
import { OUTCOME, RECORD_COLUMNS, chainRecord, completeFields, type AuditRecord } from '../src/gateway/audit/record.js';
import { makeGatewayDir, tinyModelDir, testImages, signedDicom, infer, request } from '../bench/gateway/fixtures.js';
import { cli, postgresServer } from './helpers.js';

const srv = postgresServer();
const skip = srv.skip;
let dbUrl = '';
let dbName = '';

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
});
after(async () => {
  if (skip || !dbName) return;
  const admin = new pg.Client({ connectionString: srv.url! });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await admin.end();
});

test('gateway on PostgreSQL: chain verifies; UPDATE refused; an edited record is named', { skip }, async () => {
  await initEngine({ backend: 'cpu' });
  const model = await loadModel(await tinyModelDir());
  const g = await makeGatewayDir('default', (c) => {
    c.logging = { level: 'silent' };
    c.audit.url = dbUrl;
    c.audit.signEvery = 5;
  });
  const gw = await createGateway(loadGatewayConfig(g.config), { model });
  try {
    const base = await gw.listen(0, '127.0.0.1');
    const imgs = await testImages(6);
    const bodies = await Promise.all(imgs.map((im) => signedDicom(g, im.pixels)));
    const rs = await Promise.all(
      bodies.map((b, i) => infer(base, i === 5 ? 'msk_00000000_' + 'z'.repeat(43) : g.apiKey, b)),
    );
    assert.deepEqual(
      rs.map((r) => r.status),
      [200, 200, 200, 200, 200, 401],
    );
    const v = await request(`${base}/v1/audit/verify`, { headers: { authorization: `Bearer ${g.auditorKey}` } });
    assert.equal(v.json.valid, true, JSON.stringify(v.json));
    assert.ok(v.json.signatures >= 1);
    const served = (await gw.ctx.audit.store.page(0, 1000))
      .filter((r) => r.status === 200 && r.route === 'POST /v1/infer')
      .map((r) => r.requestId);
    assert.deepEqual(
      served.sort(),
      rs
        .slice(0, 5)
        .map((r) => r.json.requestId)
        .sort(),
    );
  } finally {
    await gw.close();
  }

  const ok = cli(['audit', 'verify', '--config', g.config, '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(JSON.parse(ok.stdout).valid, true);

  const c = new pg.Client({ connectionString: dbUrl });
  await c.connect();
  try {
    await assert.rejects(c.query(`UPDATE audit SET "reason" = 'x' WHERE "seq" = 3`), /append-only/);
    await c.query('ALTER TABLE audit DISABLE TRIGGER audit_append_only');
    await c.query(`UPDATE audit SET "decision" = '0:normal:0.99' WHERE "seq" = 3`);
  } finally {
    await c.end();
  }
  const bad = cli(['audit', 'verify', '--db', dbUrl]);
  assert.equal(bad.code, 1);
  assert.equal(bad.stdout.trim(), 'audit log BROKEN at record 3: record 3: content does not match its hash (edited)');
});

test('group commit on PostgreSQL: records arriving during a COMMIT share the next one, each resolves after its COMMIT, chain in order', {
  skip,
}, async () => {
  const name = `${dbName}_g`;
  const admin = new pg.Client({ connectionString: srv.url! });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(srv.url!);
  u.pathname = `/${name}`;
  const inner = await PostgresAuditStore.open(u.toString());
  try {
    const batches: number[][] = [];
    const durable = new Set<number>();
    const store = {
      kind: inner.kind,
      head: () => inner.head(),
      page: (a: number, l: number) => inner.page(a, l),
      since: (t: string, l: number) => inner.since(t, l),
      blocks: (t: string) => inner.blocks(t),
      close: () => inner.close(),
      async append(records: AuditRecord[]) {
        await new Promise((r) => setTimeout(r, 20)); // a slow fsync
        await inner.append(records); // returns after COMMIT
        batches.push(records.map((r) => r.seq));
        for (const r of records) durable.add(r.seq);
      },
    };
    const log = await AuditLog.open(store, { signEvery: 1000, signIntervalSeconds: 3600, signer: null });
    let early = 0;
    const append = () =>
      log.append({ event: 'DICOMInstancesAccessed', outcome: OUTCOME.success }).then((r) => {
        if (!durable.has(r.seq)) early++;
        return r;
      });
    const all = [append()];
    for (let wave = 0; wave < 5; wave++) {
      await new Promise((r) => setTimeout(r, 8));
      for (let j = 0; j < 8; j++) all.push(append());
    }
    const recs = await Promise.all(all);
    assert.equal(early, 0, 'no append resolved before its COMMIT');
    assert.deepEqual(
      batches.flat(),
      recs.map((r) => r.seq),
    );
    assert.ok(
      batches.length < recs.length / 3,
      `${recs.length} records in ${batches.length} commits: ${batches.map((b) => b.length).join(',')}`,
    );
    const rep = await verifyChain(inner, null);
    assert.equal(rep.valid, true, JSON.stringify(rep));
    assert.equal(rep.records, 41);
  } finally {
    await inner.close();
    const a2 = new pg.Client({ connectionString: srv.url! });
    await a2.connect();
    await a2.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await a2.end();
  }
});

test('PostgreSQL: query-attack blocks survive a restart; a truncated tail and a forged append fail `audit verify --config` (checkpoint beside the config)', {
  skip,
}, async () => {
  const name = `medshield_test_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: srv.url! });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(srv.url!);
  u.pathname = `/${name}`;
  try {
    await initEngine({ backend: 'cpu' });
    const model = await loadModel(await tinyModelDir());
    const g = await makeGatewayDir('default', (c) => {
      c.logging = { level: 'silent' };
      c.audit.url = u.toString();
      c.audit.signEvery = 4;
      c.queryDetection = { ...c.queryDetection, action: 'block', alertWindow: 4, blockSeconds: 3600 };
    });
    const body = await signedDicom(g, (await testImages(1))[0].pixels);
    let gw = await createGateway(loadGatewayConfig(g.config), { model });
    let status = 0;
    try {
      const base = await gw.listen(0, '127.0.0.1');
      for (let i = 0; i < 30 && status !== 429; i++) status = (await infer(base, g.apiKey, body)).status;
      assert.equal(status, 429, 'blocked');
    } finally {
      await gw.close();
    }
    gw = await createGateway(loadGatewayConfig(g.config), { model });
    try {
      const base = await gw.listen(0, '127.0.0.1');
      assert.equal((await infer(base, g.apiKey, body)).status, 429, 'still blocked after the restart');
    } finally {
      await gw.close();
    }
    const ok = cli(['audit', 'verify', '--config', g.config, '--json']);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    const j = JSON.parse(ok.stdout);
    assert.equal(j.checkpointSeq, j.headSeq, ok.stdout);

    const c = new pg.Client({ connectionString: u.toString() });
    await c.connect();
    try {
      await c.query('ALTER TABLE audit DISABLE TRIGGER audit_append_only');
      const sigs = (await c.query(`SELECT "seq" FROM audit WHERE "event" = 'AuditLogSigned' ORDER BY "seq"`)).rows.map(
        (r) => Number(r.seq),
      );
      const keep = sigs[sigs.length - 2];
      await c.query('DELETE FROM audit WHERE "seq" > $1', [keep]);
      const cut = cli(['audit', 'verify', '--config', g.config, '--json']);
      assert.equal(cut.code, 1);
      assert.equal(JSON.parse(cut.stdout).firstBroken.seq, keep + 1, cut.stdout);
      assert.match(JSON.parse(cut.stdout).firstBroken.reason, /tail truncated/);
      const head = (await c.query('SELECT * FROM audit WHERE "seq" = $1', [keep])).rows[0];
      const forged = chainRecord(
        completeFields({
          event: 'DICOMInstancesAccessed',
          outcome: OUTCOME.success,
          status: 200,
          decision: '0:normal:0.99',
        }),
        keep + 1,
        head.hash,
      );
      await c.query(
        `INSERT INTO audit (${RECORD_COLUMNS.map((k) => `"${k}"`).join(', ')}` +
          `) VALUES (${RECORD_COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})`,
        RECORD_COLUMNS.map((k) => forged[k]),
      );
      const f = cli(['audit', 'verify', '--config', g.config, '--json']);
      assert.equal(f.code, 1);
      assert.equal(JSON.parse(f.stdout).firstBroken.seq, keep + 1, f.stdout);
    } finally {
      await c.end();
    }
  } finally {
    const a2 = new pg.Client({ connectionString: srv.url! });
    await a2.connect();
    await a2.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await a2.end();
  }
});
