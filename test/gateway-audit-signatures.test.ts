/**
 * Audit signatures are required (issue 20, finding 5; acceptance 3). A real gateway (signEvery 5) serves real DICOM
 * files of ../shared/data/dicom signed at test time and stops; then, on copies of its database (append-only
 * triggers dropped, as an attacker with file access would), `medshield audit verify --config … --json` must fail
 * with exit 1 naming the first bad record for: delete a record + re-chain + drop every signature record; drop one
 * signature record (a run longer than signEvery); truncate the tail back to an earlier signature; append a forged
 * record (unsigned head); append a forged record with a signature by another key; delete or forge the checkpoint.
 * The untouched log passes; a corrupt database exits 2 with one line.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes, generateKeyPairSync } from 'node:crypto';
import path from 'node:path';
import YAML from 'yaml';
import { initEngine } from '../src/engine/index.js';
import { loadModel } from '../src/models/io.js';
import { createGateway, loadGatewayConfig } from '../src/gateway/index.js';
import { signHead } from '../src/gateway/audit/log.js';
import {
  chainRecord,
  completeFields,
  GENESIS_HASH,
  RECORD_COLUMNS,
  recordHash,
  type AuditRecord,
} from '../src/gateway/audit/record.js';
import { makeGatewayDir, tinyModelDir, infer, request, type GatewayDir } from '../bench/gateway/fixtures.js';
import { fuzzImages } from '../bench/gateway/fuzz-images.js';
import { DICOM_DIR, cli, isCleanError } from './helpers.js';

const require = createRequire(import.meta.url);
const { Database } = require('node-sqlite3-wasm') as typeof import('node-sqlite3-wasm');

let g: GatewayDir;
let db: string;
let rows: AuditRecord[] = [];

before(async () => {
  await initEngine({ backend: 'cpu' });
  const modelDir = await tinyModelDir();
  g = await makeGatewayDir(modelDir, (c) => {
    c.logging = { level: 'silent' };
    c.audit.signEvery = 5;
  });
  db = path.join(g.dir, 'audit.db');
  const imgs = await fuzzImages(g, DICOM_DIR);
  const gw = await createGateway(loadGatewayConfig(g.config), { model: await loadModel(modelDir) });
  try {
    const base = await gw.listen(0, '127.0.0.1');
    for (let i = 0; i < 18; i++) {
      const r = await infer(base, g.apiKey, i % 4 === 3 ? imgs.refused[i % 3] : imgs.signed[i % 3]);
      assert.equal(r.status, i % 4 === 3 ? 422 : 200, r.body);
    }
    // A running gateway's tail may wait for its signature: the live check allows up to signEvery unsigned records.
    const v = await request(`${base}/v1/audit/verify`, { headers: { authorization: `Bearer ${g.auditorKey}` } });
    assert.equal(v.json.valid, true, JSON.stringify(v.json));
    assert.ok(v.json.checkpointSeq > 0);
  } finally {
    await gw.close();
  }
  const d = new Database(db);
  d.exec('PRAGMA locking_mode=EXCLUSIVE');
  d.get('PRAGMA journal_mode=WAL');
  rows = d.all('SELECT * FROM audit ORDER BY "seq"') as unknown as AuditRecord[];
  d.close();
});

/** A copy of the database rewritten to `out`, and a config that points at it (and at the original checkpoint). */
function tampered(name: string, fn: (rs: AuditRecord[]) => AuditRecord[]): string {
  const f = path.join(g.dir, `${name}.db`);
  rmSync(f, { force: true });
  copyFileSync(db, f);
  const d = new Database(f);
  d.exec('PRAGMA locking_mode=EXCLUSIVE');
  d.get('PRAGMA journal_mode=WAL');
  d.exec('DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; DELETE FROM audit;');
  const ph = RECORD_COLUMNS.map(() => '?').join(', ');
  for (const r of fn(rows.map((x) => ({ ...x }))))
    d.run(
      `INSERT INTO audit (${RECORD_COLUMNS.map((c) => `"${c}"`).join(', ')}) VALUES (${ph})`,
      RECORD_COLUMNS.map((c) => r[c] as string | number | null),
    );
  d.close();
  const cfg = YAML.parse(readFileSync(g.config, 'utf8'));
  cfg.audit.url = `sqlite:${name}.db`;
  cfg.audit.checkpoint = 'audit.db.checkpoint';
  const conf = path.join(g.dir, `${name}.yaml`);
  writeFileSync(conf, YAML.stringify(cfg));
  return conf;
}

/** Renumber 1..n and recompute every prevHash and hash (a consistent rewrite). */
function rechain(rs: AuditRecord[]): AuditRecord[] {
  let prev = GENESIS_HASH;
  return rs.map((r, i) => {
    const x = { ...r, seq: i + 1, prevHash: prev } as AuditRecord;
    x.hash = recordHash(x);
    prev = x.hash;
    return x;
  });
}

function verify(config: string): { code: number; j: any; stderr: string } {
  const r = cli(['audit', 'verify', '--config', config, '--json']);
  let j: any = null;
  try {
    j = JSON.parse(r.stdout);
  } catch {
    /* not JSON */
  }
  return { code: r.code, j, stderr: r.stderr };
}

const signedSeqs = () => rows.filter((r) => r.event === 'AuditLogSigned').map((r) => r.seq);

test('the untouched log verifies with signatures required and the checkpoint compared', () => {
  const r = verify(g.config);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.j.valid, true);
  assert.equal(r.j.records, rows.length);
  assert.ok(r.j.signatures >= 4 && r.j.signaturesChecked);
  assert.equal(rows.at(-1)!.event, 'AuditLogSigned', 'the gateway signed the head at shutdown');
  assert.equal(r.j.checkpointSeq, rows.length, 'the checkpoint names the head');
  let run = 0;
  for (const x of rows) {
    run = x.event === 'AuditLogSigned' ? 0 : run + 1;
    assert.ok(run <= 5, `unsigned run ${run} at ${x.seq}`);
  }
});

test('delete a record, re-chain, drop every signature record → exit 1 naming the first bad record', () => {
  const conf = tampered('rebuilt', (rs) => rechain(rs.filter((r) => r.seq !== 6 && r.event !== 'AuditLogSigned')));
  const r = verify(conf);
  assert.equal(r.code, 1, r.stderr);
  assert.deepEqual(r.j.firstBroken, { seq: 6, reason: r.j.firstBroken.reason });
  assert.match(
    r.j.firstBroken.reason,
    /^record 6: more than 5 records \(signEvery\) in a row without a gateway signature/,
  );
  // The hash chain alone is consistent: without the certificate the rewrite is not seen (why signatures are required).
  const plain = cli(['audit', 'verify', '--db', path.join(g.dir, 'rebuilt.db'), '--json']);
  assert.equal(plain.code, 0, plain.stdout);
});

test('drop one signature record in the middle and re-chain → the over-long unsigned run is named', () => {
  const s = signedSeqs();
  const drop = s[1];
  const conf = tampered('one-sig-dropped', (rs) => rechain(rs.filter((r) => r.seq !== drop)));
  const r = verify(conf);
  assert.equal(r.code, 1, r.stderr);
  const runStart = s[0] + 1; // numbering unchanged before the dropped record
  assert.equal(r.j.firstBroken.seq, runStart + 5, r.j.firstBroken.reason);
  assert.match(r.j.firstBroken.reason, /without a gateway signature/);
});

test('truncate the tail back to an earlier signature → exit 1: the checkpoint names a record the log no longer has', () => {
  const s = signedSeqs();
  const keep = s[s.length - 3];
  const conf = tampered('truncated', (rs) => rs.filter((r) => r.seq <= keep));
  const r = verify(conf);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.j.firstBroken.seq, keep + 1);
  assert.match(r.j.firstBroken.reason, /tail truncated/);
});

test('append a forged record → exit 1 naming it (the head must be signed); with a signature by another key → its signature fails', () => {
  const head = rows.at(-1)!;
  const forged = chainRecord(
    completeFields({
      event: 'DICOMInstancesAccessed',
      outcome: 0,
      route: 'POST /v1/infer',
      status: 200,
      decision: '1:pneumonia:0.99',
      userId: 'deadbeef',
    }),
    head.seq + 1,
    head.hash,
  );
  const r1 = verify(tampered('forged', (rs) => [...rs, forged]));
  assert.equal(r1.code, 1);
  assert.equal(r1.j.firstBroken.seq, head.seq + 1);
  assert.match(r1.j.firstBroken.reason, /after the last gateway signature/);
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const sig = chainRecord(
    completeFields({
      event: 'AuditLogSigned',
      action: 'C',
      outcome: 0,
      signer: head.signer,
      decision: 'sign-every:5',
      signature: signHead({ key: privateKey, subject: 'x' }, forged.hash),
      reason: `signs record ${forged.seq}`,
    }),
    forged.seq + 1,
    forged.hash,
  );
  const r2 = verify(tampered('forged-signed', (rs) => [...rs, forged, sig]));
  assert.equal(r2.code, 1);
  assert.equal(r2.j.firstBroken.seq, head.seq + 2);
  assert.match(r2.j.firstBroken.reason, /gateway signature over record \d+ does not verify/);
});

test('a deleted or forged checkpoint fails the check', () => {
  const cfg = YAML.parse(readFileSync(g.config, 'utf8'));
  cfg.audit.checkpoint = 'no-such.checkpoint';
  const missing = path.join(g.dir, 'missing-cp.yaml');
  writeFileSync(missing, YAML.stringify(cfg));
  const r1 = verify(missing);
  assert.equal(r1.code, 1);
  assert.match(r1.j.firstBroken.reason, /checkpoint .* is missing/);
  const cp = JSON.parse(readFileSync(path.join(g.dir, 'audit.db.checkpoint'), 'utf8'));
  const s = signedSeqs();
  const older = rows.find((x) => x.seq === s[1])!;
  writeFileSync(path.join(g.dir, 'forged.checkpoint'), JSON.stringify({ ...cp, seq: older.seq, hash: older.hash }));
  cfg.audit.checkpoint = 'forged.checkpoint';
  const forged = path.join(g.dir, 'forged-cp.yaml');
  writeFileSync(forged, YAML.stringify(cfg));
  const r2 = verify(forged);
  assert.equal(r2.code, 1);
  assert.match(r2.j.firstBroken.reason, /checkpoint .*gateway signature does not verify/);
});

test('a corrupt database exits 2 with one line', () => {
  const junk = path.join(g.dir, 'junk.db');
  writeFileSync(junk, randomBytes(64 * 1024));
  const r = cli(['audit', 'verify', '--db', junk]);
  assert.ok(isCleanError(r), `exit ${r.code}: ${r.stderr}`);
  const cfg = YAML.parse(readFileSync(g.config, 'utf8'));
  cfg.audit.url = 'sqlite:junk.db';
  const conf = path.join(g.dir, 'junk.yaml');
  writeFileSync(conf, YAML.stringify(cfg));
  const r2 = cli(['audit', 'verify', '--config', conf, '--json']);
  assert.ok(isCleanError(r2), `exit ${r2.code}: ${r2.stderr}`);
  assert.match(r2.stderr, /not a readable SQLite audit database/);
});
