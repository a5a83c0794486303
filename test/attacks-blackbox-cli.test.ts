/**
 * `medshield attack` against black boxes: the same Square attack (same seed) through the in-process
 * target, an exported ONNX file and an HTTP endpoint gives the same success; the JSON adds
 * mean/median queries; transfer needs a surrogate; broken endpoints (unreachable, 401, non-JSON,
 * wrong class count) give one clean line, exit 2, and `--out` keeps what was finished.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { initEngine } from '../src/engine/index.js';
import { serveModel } from '../src/attacks/targets/model-server.js';
import { cli, cliAsync, isCleanError } from './helpers.js';
import { pneumonia, retina } from './attacks-fixture.js';

await initEngine();
const fx = await pneumonia();
const tmp = mkdtempSync(path.join(tmpdir(), 'ms-blackbox-'));
const base = [
  'attack',
  '--dataset',
  'pneumoniamnist',
  '--split',
  'test',
  '--limit',
  '12',
  '--eps',
  '8/255',
  '--seed',
  '3',
  '--json',
];
const square = [...base, '--attack', 'square', '--max-queries', '150'];

/** A tiny HTTP server answering every POST with `reply(n)` (n = request number from 1). */
async function rawServer(
  reply: (body: string, res: http.ServerResponse, req: http.IncomingMessage) => void,
): Promise<{ url: string; close: () => Promise<void> }> {
  const srv = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => {
      body += c;
    });
    req.on('end', () => reply(body, res, req));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise((r) => srv.close(() => r())) };
}

test('square: in-process, ONNX and HTTP targets agree (same seed), and the JSON reports queries', async () => {
  const inProc = cli([...square, '--model', fx.dir]);
  assert.equal(inProc.code, 0, inProc.stderr);
  const a = JSON.parse(inProc.stdout);
  for (const k of ['meanQueries', 'medianQueries', 'maxQueries', 'attackSuccessRate', 'robustAccuracy'])
    assert.ok(k in a, `missing ${k}`);
  assert.equal(a.maxQueries, 150);
  assert.equal(a.steps, 150);
  assert.equal(a.target.kind, 'model');
  assert.ok(a.meanLinf <= 8 / 255 + 1e-6);
  assert.ok(a.attackSuccessRate > 0, 'square fooled nobody');

  const onnxDir = path.join(tmp, 'onnx');
  const ex = cli(['export', '--model', fx.dir, '--format', 'onnx', '--out', onnxDir, '--json']);
  assert.equal(ex.code, 0, ex.stderr);
  const onnx = cli([...square, '--target-onnx', onnxDir]);
  assert.equal(onnx.code, 0, onnx.stderr);
  const b = JSON.parse(onnx.stdout);
  assert.equal(b.target.kind, 'onnx');
  assert.ok(
    Math.abs(b.attackSuccessRate - a.attackSuccessRate) <= 1 / 12 + 1e-9,
    `onnx ${b.attackSuccessRate} vs in-process ${a.attackSuccessRate}`,
  );

  const server = await serveModel(fx.model, { port: 0 });
  try {
    const viaHttp = await cliAsync([...square, '--target-url', server.url]);
    assert.equal(viaHttp.code, 0, viaHttp.stderr);
    const c = JSON.parse(viaHttp.stdout);
    assert.equal(c.target.kind, 'http');
    assert.equal(c.attackSuccessRate, a.attackSuccessRate);
    assert.equal(c.medianQueries, a.medianQueries);
  } finally {
    await server.close();
  }
});

test('label-only in-process target: score attacks are refused, decision attacks run', () => {
  const r = cli([...square, '--model', fx.dir, '--target-output', 'label']);
  assert.ok(isCleanError(r), r.stderr);
  assert.match(r.stderr, /needs probabilities/);
  const h = cli([
    ...base,
    '--model',
    fx.dir,
    '--attack',
    'hsj',
    '--norm',
    'l2',
    '--eps',
    '3',
    '--max-queries',
    '200',
    '--target-output',
    'label',
  ]);
  assert.equal(h.code, 0, h.stderr);
  const j = JSON.parse(h.stdout);
  assert.equal(j.target.output, 'label');
  assert.ok(j.medianQueries === null || j.medianQueries <= 200);
});

test('transfer: crafted on a surrogate, one query per image; --surrogate required', () => {
  const r = cli([
    ...base,
    '--model',
    fx.dir,
    '--attack',
    'transfer',
    '--surrogate',
    fx.dir,
    '--eps',
    '4/255,16/255',
    '--steps',
    '10',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const rows = JSON.parse(r.stdout);
  assert.equal(rows.length, 2);
  // the surrogate here is the target itself, so "transfer" is white-box M-DI²-FGSM (no early stopping)
  assert.ok(rows[1].robustAccuracy <= rows[0].robustAccuracy);
  assert.equal(rows[1].medianQueries, 1);
  const missing = cli([...base, '--model', fx.dir, '--attack', 'transfer']);
  assert.ok(isCleanError(missing) && /--surrogate/.test(missing.stderr), missing.stderr);
});

test('white-box attacks refuse remote targets; --target-url needs --dataset', () => {
  const r = cli([
    'attack',
    '--attack',
    'pgd',
    '--eps',
    '8/255',
    '--target-url',
    'http://127.0.0.1:9/',
    '--dataset',
    'pneumoniamnist',
  ]);
  assert.ok(isCleanError(r) && /white-box/.test(r.stderr), r.stderr);
  const s = cli(['attack', '--attack', 'square', '--eps', '8/255', '--target-url', 'http://127.0.0.1:9/']);
  assert.ok(isCleanError(s) && /--dataset/.test(s.stderr), s.stderr);
});

test('broken endpoints: unreachable, 401, non-JSON, wrong class count → one line, exit 2', async () => {
  const unreachable = await cliAsync([...square, '--target-url', 'http://127.0.0.1:9/']);
  assert.ok(isCleanError(unreachable), unreachable.stderr);
  assert.match(unreachable.stderr, /127\.0\.0\.1:9/);

  const locked = await serveModel(fx.model, { port: 0, apiKey: 'right-key' });
  try {
    const r = await cliAsync([...square, '--target-url', locked.url, '--api-key', 'wrong-key']);
    assert.ok(isCleanError(r) && /401/.test(r.stderr), r.stderr);
  } finally {
    await locked.close();
  }

  const html = await rawServer((_b, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<html>hello</html>');
  });
  try {
    const r = await cliAsync([...square, '--target-url', html.url]);
    assert.ok(isCleanError(r) && /JSON/i.test(r.stderr), r.stderr);
  } finally {
    await html.close();
  }

  // a vendor endpoint without /metadata that answers 5 grades (RetinaMNIST-like) for chest X-rays
  const five = await rawServer((body, res, req) => {
    if (req.method !== 'POST') {
      res.writeHead(404);
      res.end();
      return;
    }
    const n = (JSON.parse(body) as { instances: unknown[] }).instances.length;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ predictions: Array.from({ length: n }, () => [0.2, 0.2, 0.2, 0.2, 0.2]) }));
  });
  try {
    const r = await cliAsync([...square, '--target-url', five.url]);
    assert.ok(isCleanError(r) && /5 .*2|class/.test(r.stderr), r.stderr);
  } finally {
    await five.close();
  }
  // and one whose /metadata disagrees with the data (RGB fundus model behind the URL)
  const rx = await retina();
  const rgb = await serveModel(rx.model, { port: 0 });
  try {
    const r = await cliAsync([...square, '--target-url', rgb.url]);
    assert.ok(isCleanError(r) && /28×28×3/.test(r.stderr), r.stderr);
  } finally {
    await rgb.close();
  }
});

test('--out keeps the finished ε and the finished batches when the endpoint fails mid-run', async () => {
  // A proxy in front of the model that answers 5 predictions, then fails every prediction with HTTP 400.
  const inner = await serveModel(fx.model, { port: 0 });
  let count = 0;
  const srv = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const post = req.method === 'POST';
      if (post && ++count > 5) {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end('{"error":"quota exhausted"}');
        return;
      }
      const r = await fetch(new URL((req.url ?? '/').slice(1), inner.url), {
        method: req.method,
        headers: post ? { 'content-type': String(req.headers['content-type']) } : {},
        body: post ? Buffer.concat(chunks) : undefined,
      });
      res.writeHead(r.status, { 'content-type': 'application/json' });
      res.end(await r.text());
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(srv.address() as { port: number }).port}/`;
  const out = path.join(tmp, 'partial.json');
  try {
    // transfer: 1 request for clean probabilities, then per ε one per batch of 6 and one for the adversarial
    // probabilities
    const r = await cliAsync([
      ...base,
      '--attack',
      'transfer',
      '--surrogate',
      fx.dir,
      '--steps',
      '5',
      '--batch-size',
      '6',
      '--eps',
      '4/255,8/255',
      '--target-url',
      url,
      '--out',
      out,
    ]);
    assert.ok(isCleanError(r), r.stderr);
    assert.match(r.stderr, /HTTP 400/);
    assert.ok(existsSync(out));
    const kept = JSON.parse(readFileSync(out, 'utf8'));
    assert.match(kept.error, /400/);
    assert.equal(kept.completed.length, 1);
    assert.equal(kept.completed[0].eps, 4 / 255);
    assert.equal(kept.partial.length, 6, 'the first batch of the second ε');
  } finally {
    await new Promise<void>((r) => srv.close(() => r()));
    await inner.close();
  }
});
