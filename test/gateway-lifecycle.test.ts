/**
 * The gateway's request lifecycle (issue 20, finding 4; acceptance 2), with real DICOM files of ../shared/data/dicom
 * signed at test time:
 * - the request (Content-Length: 50 with a whole signed file) against `medshield serve`, four times: the
 *   process stays up, no record has a diagnosis, and a signed image is still answered 200;
 * - the HTTP fuzz (bench/gateway/fuzz.ts) with 1,000 aborted requests at random stages plus lying Content-Lengths,
 *   chunked and slow bodies, slow headers and pipelining: exactly one audit record per request and per
 *   connection-level event, no record of a refused image with a diagnosis, no 503, the model never saw a refused
 *   image, and the gateway still answers 200;
 * - audit fields a client can influence can never make the store refuse a record;
 * - query-attack blocks survive a restart (kept in the audit store).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { initEngine } from '../src/engine/index.js';
import { loadModel } from '../src/models/io.js';
import type { Model } from '../src/models/model.js';
import { createGateway, loadGatewayConfig, AuditLog, verifyChain } from '../src/gateway/index.js';
import { SqliteAuditStore } from '../src/gateway/audit/sqlite.js';
import { OUTCOME } from '../src/gateway/audit/record.js';
import { modelInput } from '../src/gateway/inference.js';
import { makeGatewayDir, tinyModelDir, infer, request, type GatewayDir } from '../bench/gateway/fixtures.js';
import { runFuzz, checkAudit } from '../bench/gateway/fuzz.js';
import { fuzzImages, type FuzzImages } from '../bench/gateway/fuzz-images.js';
import { ROOT, DICOM_DIR, cli } from './helpers.js';

let modelDir: string;
let model: Model;
let g: GatewayDir;
let imgs: FuzzImages;
const seen = new Set<string>();
const rowHash = (x: Float32Array) =>
  createHash('sha256')
    .update(Buffer.from(x.buffer, x.byteOffset, x.byteLength))
    .digest('hex');

before(async () => {
  await initEngine({ backend: 'cpu' });
  modelDir = await tinyModelDir();
  model = await loadModel(modelDir);
  const real = model.predictProbs.bind(model);
  const d = model.inputShape.reduce((a, b) => a * b, 1);
  model.predictProbs = async (x, n) => {
    for (let i = 0; i < n; i++) seen.add(rowHash(x.subarray(i * d, (i + 1) * d)));
    return real(x, n);
  };
  g = await makeGatewayDir(modelDir, (c) => {
    c.logging = { level: 'silent' };
    c.timeouts = { ...c.timeouts, requestMs: 12000, headersMs: 4000 };
    c.rateLimit = {
      perKey: { max: 1e6, windowMs: 60000 },
      perIp: { max: 1e6, windowMs: 60000 },
      authFailures: { max: 1e6, windowMs: 60000 },
    };
  });
  imgs = await fuzzImages(g, DICOM_DIR);
});

function serve(config: string): Promise<{ proc: ChildProcess; url: string }> {
  const proc = spawn(
    process.execPath,
    [path.join(ROOT, 'bin', 'medshield.js'), 'serve', '--config', config, '--port', '0', '--json', '--backend', 'cpu'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let err = '';
  proc.stderr!.on('data', (d) => {
    err += d;
  });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error('serve did not start within 90 s'));
    }, 90_000);
    createInterface({ input: proc.stdout! }).once('line', (l) => {
      clearTimeout(t);
      resolve({ proc, url: JSON.parse(l).url });
    });
    proc.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`serve exited with ${code}: ${err.slice(-500)}`));
    });
  });
}

/** What curl sends for `-H 'Content-Length: 50' --data-binary @signed.dcm`: the headers, then the whole file. */
function lyingRequest(url: string, key: string, body: Buffer): Promise<string> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s = net.connect({ host: u.hostname, port: Number(u.port) });
    let text = '';
    s.on('data', (d) => {
      text += d.toString('latin1');
    });
    s.on('error', () => undefined);
    s.on('close', () => resolve(text));
    s.write(
      `POST /v1/infer HTTP/1.1\r\nHost: ${u.host}\r\nUser-Agent: curl/8.5.0\r\nAccept: ` +
        `*/*\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/dicom\r\nContent-Length: 50\r\n\r\n`,
    );
    s.write(body);
    setTimeout(() => s.destroy(), 10_000).unref();
  });
}

test("the issue's lying Content-Length against `medshield serve`: the process stays up, one record per request, still 200", async () => {
  const { proc, url } = await serve(g.config);
  try {
    for (let i = 0; i < 4; i++) await lyingRequest(url, g.apiKey, imgs.signed[0]);
    assert.equal(proc.exitCode, null, 'the gateway is still running');
    const ok = await infer(url, g.apiKey, imgs.signed[0]);
    assert.equal(ok.status, 200, ok.body);
    const recs = (
      await request(`${url}/v1/audit?after=0&limit=1000`, { headers: { authorization: `Bearer ${g.auditorKey}` } })
    ).json.records as Array<{ route: string; status: number; decision: string | null; requestId: string }>;
    const lying = recs.filter((r) => r.route === 'POST /v1/infer' && r.requestId !== ok.json.requestId);
    assert.equal(lying.length, 4, 'one record per lying request');
    for (const r of lying) {
      assert.equal(r.decision, null, 'a 50-byte prefix is never diagnosed');
      assert.notEqual(r.status, 200);
    }
    assert.equal(
      recs.filter((r) => r.route === 'connection').length,
      4,
      'the rest of each file (not a request) is recorded once',
    );
    assert.equal(recs.filter((r) => r.status === 503).length, 0);
  } finally {
    proc.kill('SIGTERM');
    await new Promise((r) => (proc.exitCode !== null ? r(null) : proc.once('exit', r)));
  }
  assert.equal(proc.exitCode, 0);
  const v = cli(['audit', 'verify', '--config', g.config, '--json']);
  assert.equal(v.code, 0, v.stdout + v.stderr);
});

test('HTTP fuzz: 1,000 aborts at random stages and every hostile shape — one record each, no refused image diagnosed or modelled, still 200', async () => {
  const cfg = loadGatewayConfig(g.config);
  cfg.audit.url = `sqlite:${path.join(mkdtempSync(path.join(os.tmpdir(), 'ms-fuzz-')), 'audit.db')}`;
  const gw = await createGateway(cfg, { model });
  try {
    const base = await gw.listen(0, '127.0.0.1');
    const head0 = gw.ctx.audit.headSeq;
    const { summary } = await runFuzz({
      base,
      apiKey: g.apiKey,
      signed: imgs.signed,
      refused: imgs.refused,
      aborts: 1000,
      concurrency: 16,
      seed: 20,
      requestMs: cfg.timeouts.requestMs,
      headersMs: cfg.timeouts.headersMs,
      each: 3,
    });
    // Records of requests whose connection closed are written when the close is seen: wait for the count to settle.
    let recs = await gw.ctx.audit.store.page(head0, 1e6);
    for (let i = 0; i < 40; i++) {
      await new Promise((r) => setTimeout(r, 250));
      await gw.ctx.audit.flush();
      const again = await gw.ctx.audit.store.page(head0, 1e6);
      if (again.length === recs.length && i > 3) break;
      recs = again;
    }
    const c = checkAudit(recs, imgs.refused);
    assert.equal(
      c.requestRecords,
      summary.expectedRequestRecords,
      `request records ${JSON.stringify(c.statuses)} ${JSON.stringify(summary.byKind)}`,
    );
    assert.equal(c.connectionRecords, summary.expectedConnectionRecords, 'connection-level records');
    assert.deepEqual(c.duplicateRequestIds, [], 'no request has two records');
    assert.deepEqual(c.refusedWithDiagnosis, [], 'no refused image has a diagnosis');
    assert.equal(c.unavailable, 0, 'the audit log never became unavailable');
    assert.ok(
      summary.byKind['ok'].statuses['200'] === 3 &&
        summary.byKind['refused'].statuses['422'] === 3 &&
        summary.byKind['chunked'].statuses['200'] === 3 &&
        summary.byKind['slow-body'].statuses['200'] === 3,
      JSON.stringify(summary.byKind),
    );
    assert.ok(summary.byKind['slow-headers'].statuses['408'] === 3, 'slow headers are cut off with 408');
    const signedRows = new Set(await Promise.all(imgs.signed.map(async (b) => rowHash(await modelInput(b, model)))));
    for (const [i, b] of imgs.refused.entries()) {
      const h = rowHash(await modelInput(b, model));
      assert.ok(!signedRows.has(h), 'refused and accepted images differ as model inputs');
      assert.ok(!seen.has(h), `the model never saw the refused ${imgs.names.refused[i]}`);
    }
    const after = await infer(base, g.apiKey, imgs.signed[1]);
    assert.equal(after.status, 200, after.body);
    const v = await request(`${base}/v1/audit/verify`, { headers: { authorization: `Bearer ${g.auditorKey}` } });
    assert.equal(v.json.valid, true, JSON.stringify(v.json));
  } finally {
    await gw.close();
  }
});

test('audit fields a client can influence never make the store refuse a record', async () => {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'ms-fields-')), 'audit.db');
  const store = SqliteAuditStore.open(file);
  const log = await AuditLog.open(store, { signEvery: 100, signIntervalSeconds: 3600, signer: null });
  const hostile = {
    event: 'DICOMInstancesAccessed' as const,
    outcome: OUTCOME.minorFailure,
    sourceAddress: undefined,
    route: `GET /x\u0000y`,
    reason: 'a\uD800b' + 'z'.repeat(100_000),
    status: Number.NaN,
    userId: 42 as unknown as string,
    requestId: undefined,
    flags: undefined as unknown as string,
    decision: '\uDFFF',
    time: 'not a time',
  };
  const r = await log.append(hostile as never);
  assert.equal(r.sourceAddress, null);
  assert.equal(r.status, null);
  assert.equal(r.userId, '42');
  assert.equal(r.flags, '');
  assert.ok(r.reason!.length <= 2000 && !r.reason!.includes('\uD800'));
  assert.ok(!r.route!.includes('\u0000'));
  await log.close();
  const ro = SqliteAuditStore.open(file, { readOnly: true });
  const rep = await verifyChain(ro, null);
  await ro.close();
  assert.equal(rep.valid, true, 'read back unchanged: the chain verifies');
  assert.equal(rep.records, 1);
});

test('query-attack blocks survive a restart (kept in the audit store)', async () => {
  const cfg = loadGatewayConfig(g.config);
  cfg.audit.url = `sqlite:${path.join(mkdtempSync(path.join(os.tmpdir(), 'ms-blocks-')), 'audit.db')}`;
  cfg.queryDetection = {
    ...cfg.queryDetection,
    action: 'block',
    alertWindow: 4,
    alertFraction: 0.5,
    blockSeconds: 3600,
  };
  let gw = await createGateway(cfg, { model });
  let status = 0;
  let n = 0;
  try {
    const base = await gw.listen(0, '127.0.0.1');
    while (status !== 429 && n < 30) {
      status = (await infer(base, g.apiKey, imgs.signed[2])).status;
      n++;
    }
    assert.equal(status, 429, `blocked after ${n} near-duplicate queries`);
  } finally {
    await gw.close();
  }
  gw = await createGateway(cfg, { model });
  try {
    const base = await gw.listen(0, '127.0.0.1');
    const r = await infer(base, g.apiKey, imgs.signed[0]);
    assert.equal(r.status, 429, 'still blocked after the restart');
    assert.ok(Number(r.headers['retry-after']) > 3000);
    assert.match(r.json.message, /blocked until/);
  } finally {
    await gw.close();
  }
});

after(() => undefined);
