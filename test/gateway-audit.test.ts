/**
 * The audit log: after mixed traffic the hash chain and the gateway's periodic signatures verify (HTTP
 * and CLI); UPDATE/DELETE are refused by the store; editing one record in the database makes
 * `audit verify` fail at exactly that record; deleting one names the gap; rewriting the whole chain
 * after an edit (recomputed hashes) is caught by the gateway's signature over the chain head.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { copyFileSync } from 'node:fs';
import { initEngine } from '../src/engine/index.js';
import { loadModel } from '../src/models/io.js';
import { createGateway, loadGatewayConfig, verifyChain } from '../src/gateway/index.js';
import { SqliteAuditStore } from '../src/gateway/audit/sqlite.js';
import { recordHash, GENESIS_HASH, type AuditRecord } from '../src/gateway/audit/record.js';
import {
  makeGatewayDir,
  tinyModelDir,
  testImages,
  signedDicom,
  infer,
  request,
  type GatewayDir,
} from '../bench/gateway/fixtures.js';
import { cli } from './helpers.js';

const require = createRequire(import.meta.url);
const { Database } = require('node-sqlite3-wasm') as typeof import('node-sqlite3-wasm');

let g: GatewayDir;
let db: string;
let total = 0;

before(async () => {
  await initEngine({ backend: 'cpu' });
  const model = await loadModel(await tinyModelDir());
  g = await makeGatewayDir('default', (c) => {
    c.logging = { level: 'silent' };
    c.audit.signEvery = 7;
  });
  db = path.join(g.dir, 'audit.db');
  const gw = await createGateway(loadGatewayConfig(g.config), { model });
  try {
    const base = await gw.listen(0, '127.0.0.1');
    const imgs = await testImages(12);
    for (const [i, im] of imgs.entries()) {
      const b = await signedDicom(g, im.pixels);
      const r = await infer(
        base,
        i % 4 === 3 ? 'msk_00000000_' + 'x'.repeat(43) : g.apiKey,
        i % 5 === 4 ? Buffer.concat([b.subarray(0, 200), b.subarray(201)]) : b,
      );
      assert.ok([200, 401, 422].includes(r.status));
    }
    const v = await request(`${base}/v1/audit/verify`, { headers: { authorization: `Bearer ${g.auditorKey}` } });
    assert.equal(v.status, 200);
    assert.equal(v.json.valid, true, JSON.stringify(v.json));
    assert.ok(v.json.signatures >= 1 && v.json.signaturesChecked);
  } finally {
    await gw.close();
  }
  const s = SqliteAuditStore.open(db, { readOnly: true });
  total = (await verifyChain(s, null)).records;
  await s.close();
});

/** Work on a copy of the database with the append-only triggers dropped (what an attacker with file access does). */
function tamperedCopy(name: string, fn: (d: InstanceType<typeof Database>) => void): string {
  const f = path.join(g.dir, name);
  copyFileSync(db, f);
  const d = new Database(f);
  d.exec('PRAGMA locking_mode=EXCLUSIVE');
  d.get('PRAGMA journal_mode=WAL');
  d.exec('DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;');
  fn(d);
  d.close();
  return f;
}

test('the intact log verifies with the CLI (chain + gateway signatures)', () => {
  const r = cli(['audit', 'verify', '--config', g.config, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.valid, true);
  assert.equal(j.records, total);
  assert.ok(j.signatures >= 2 && j.signaturesChecked);
  assert.ok(total >= 16, `${total} records: start, 12 requests, verify read, signatures, stop`);
});

test('the store refuses UPDATE and DELETE', () => {
  const d = new Database(db);
  d.exec('PRAGMA locking_mode=EXCLUSIVE');
  d.get('PRAGMA journal_mode=WAL');
  assert.throws(() => d.run(`UPDATE audit SET "decision" = '0:normal' WHERE "seq" = 3`), /append-only/);
  assert.throws(() => d.run(`DELETE FROM audit WHERE "seq" = 3`), /append-only/);
  d.close();
});

test('editing one record is detected at exactly that record', () => {
  for (const seq of [2, 9, total]) {
    const f = tamperedCopy(`edit-${seq}.db`, (d) =>
      d.run(`UPDATE audit SET "reason" = 'nothing to see' , "outcome" = 0 WHERE "seq" = ?`, [seq]),
    );
    const r = cli(['audit', 'verify', '--db', f]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(
      r.stdout.trim(),
      `audit log BROKEN at record ${seq}: record ${seq}: content does not match its hash (edited)`,
    );
  }
});

test('deleting a record names the gap', () => {
  const f = tamperedCopy('deleted.db', (d) => d.run(`DELETE FROM audit WHERE "seq" = 5`));
  const r = cli(['audit', 'verify', '--db', `sqlite:${f}`, '--json']);
  assert.equal(r.code, 1);
  assert.deepEqual(JSON.parse(r.stdout).firstBroken, {
    seq: 5,
    reason: 'record 5 is missing (next stored record is 6)',
  });
});

test('rewriting the chain after an edit is caught by the gateway signature', async () => {
  const f = tamperedCopy('rewritten.db', (d) => {
    const rows = d.all('SELECT * FROM audit ORDER BY "seq"') as unknown as AuditRecord[];
    let prev = GENESIS_HASH;
    for (const r of rows) {
      if (r.seq === 4) r.decision = '0:normal:0.99';
      r.prevHash = prev;
      r.hash = recordHash(r);
      prev = r.hash;
      d.run(`UPDATE audit SET "decision" = ?, "prevHash" = ?, "hash" = ? WHERE "seq" = ?`, [
        r.decision,
        r.prevHash,
        r.hash,
        r.seq,
      ]);
    }
  });
  const st = SqliteAuditStore.open(f, { readOnly: true });
  const noCert = await verifyChain(st, null);
  await st.close();
  assert.equal(noCert.valid, true, 'a consistent rewrite fools the hash chain alone');
  const r = cli(['audit', 'verify', '--db', f, '--cert', path.join(g.dir, 'pki', 'gateway-cert.pem'), '--json']);
  assert.equal(r.code, 1);
  const j = JSON.parse(r.stdout);
  assert.match(j.firstBroken.reason, /gateway signature over record \d+ does not verify/);
  assert.ok(j.firstBroken.seq > 4 && j.firstBroken.seq <= 4 + 8, 'caught at the first signed head after the edit');
});
