/**
 * The HTTP target against a real model served on the loopback address (serveModel, the small
 * PneumoniaMNIST CNN of the attack fixture): JSON and PNG bodies, probability and label-only
 * answers agree with the in-process model; queries are counted once per image, retries included;
 * API keys, unreachable ports, non-JSON answers, wrong class counts and hostile requests give one
 * clear error each.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { initEngine } from '../src/engine/index.js';
import { HttpTarget } from '../src/attacks/targets/http-target.js';
import { serveModel, parseInstances } from '../src/attacks/targets/model-server.js';
import { openTarget } from '../src/attacks/targets/open-target.js';
import { decisions } from '../src/attacks/targets/target.js';
import { encodePng } from '../src/eval/examples.js';
import { MedshieldError } from '../src/errors.js';
import { pneumonia, testImages } from './attacks-fixture.js';
import { ROOT } from './helpers.js';

await initEngine();
const fx = await pneumonia();
const model = fx.model;
const n = 12;
const img = testImages(fx, n, 3);
const x = img.x;
const [H, W, C] = model.inputShape;
const D = H * W * C;
const K = model.classes.length;
const ref = await model.predictProbs(x, n);
const meta = { inputShape: model.inputShape, classes: model.classes, task: model.task };

const probsServer = await serveModel(model, { output: 'probabilities' });
const labelServer = await serveModel(model, { output: 'label', apiKey: 'secret-key' });
const extra: Array<() => Promise<void>> = [];
after(async () => {
  await probsServer.close();
  await labelServer.close();
  for (const c of extra) await c();
});

/** A hand-written test server (no metadata route) — `answer` decides each response. */
async function customServer(
  answer: (req: IncomingMessage, body: Buffer, res: ServerResponse, count: number) => Promise<void> | void,
): Promise<string> {
  let count = 0;
  const s = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (b: Buffer) => parts.push(b));
    req.on('end', () => {
      void Promise.resolve(answer(req, Buffer.concat(parts), res, ++count)).catch((e) => {
        res.writeHead(500);
        res.end(String(e));
      });
    });
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  extra.push(
    () =>
      new Promise<void>((r) => {
        s.close(() => r());
        s.closeAllConnections();
      }),
  );
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}
const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};
/** The model's honest answer to a JSON request, as a TF-Serving-style server would give it. */
async function modelAnswer(body: Buffer): Promise<number[][]> {
  const xs = parseInstances(body, H, W, C, 1000);
  const p = await model.predictProbs(xs, xs.length / D);
  return Array.from({ length: xs.length / D }, (_, i) => Array.from(p.subarray(i * K, (i + 1) * K)));
}
const quantised = Float32Array.from(x, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255) / 255);

test('JSON, probabilities: metadata from GET /metadata, the in-process probabilities, one query per image', async () => {
  const before = probsServer.served;
  const t = await HttpTarget.connect({ url: probsServer.url, maxBatch: 5, concurrency: 2 });
  assert.deepEqual(t.inputShape, model.inputShape);
  assert.deepEqual(t.classes, model.classes);
  assert.equal(t.task, model.task);
  assert.equal(t.output, 'probabilities');
  const p = await t.predictProbs(x, n);
  assert.equal(p.length, n * K);
  for (let i = 0; i < p.length; i++)
    assert.ok(Math.abs(p[i] - ref[i]) < 1e-5, `row ${Math.floor(i / K)}: ${p[i]} vs ${ref[i]}`);
  assert.equal(t.queries, n);
  assert.equal(probsServer.served - before, n);
  assert.equal(t.attempts, 1 + Math.ceil(n / 5)); // metadata + 3 batches
});

test('PNG, probabilities: equal to the model on the 8-bit image, same decisions', async () => {
  const t = await HttpTarget.connect({ url: `${probsServer.url}/predict`, format: 'png', ...meta });
  const p = await t.predictProbs(x, n);
  const q = await model.predictProbs(quantised, n);
  for (let i = 0; i < p.length; i++) assert.ok(Math.abs(p[i] - q[i]) < 1e-5);
  assert.deepEqual(Array.from(decisions(p, n, K, model.task)), Array.from(decisions(q, n, K, model.task)));
  assert.equal(t.queries, n);
});

test('label-only with an API key: one-hot decisions over JSON and PNG; a wrong or missing key is a clear 401', async () => {
  for (const format of ['json', 'png'] as const) {
    const t = await HttpTarget.connect({ url: labelServer.url, format, apiKey: 'secret-key', ...meta });
    assert.equal(t.output, 'label');
    const p = await t.predictProbs(x, n);
    assert.deepEqual(
      Array.from(p),
      Array.from(decisions(await model.predictProbs(format === 'png' ? quantised : x, n), n, K, model.task)),
    );
    assert.equal(t.queries, n);
  }
  const custom = new HttpTarget({
    url: labelServer.url,
    apiKey: 'secret-key',
    apiKeyHeader: 'X-API-Key',
    output: 'label',
    ...meta,
  });
  assert.equal((await custom.predictProbs(x.subarray(0, D), 1)).length, K);
  for (const apiKey of ['wrong', undefined]) {
    await assert.rejects(
      HttpTarget.connect({ url: labelServer.url, apiKey, ...meta }),
      (e: unknown) => e instanceof MedshieldError && /rejected the API key \(HTTP 401\)/.test(e.message),
    );
  }
  // probabilities asked of a label-only endpoint: refused up front
  await assert.rejects(
    openTarget({ url: labelServer.url, apiKey: 'secret-key', output: 'probabilities', ...meta }),
    /returns labels only/,
  );
  // a probability endpoint read as label-only gives decisions
  const asLabel = await openTarget({ url: probsServer.url, output: 'label', ...meta });
  assert.deepEqual(Array.from(await asLabel.predictProbs(x, n)), Array.from(decisions(ref, n, K, model.task)));
});

test('retries: two 503s then an answer — works, and the images count once', async () => {
  let posts = 0;
  const url = await customServer(async (req, body, res) => {
    if (req.method !== 'POST') return json(res, 404, { error: 'no route' });
    if (++posts <= 2) return json(res, 503, { error: 'warming up' }, posts === 1 ? { 'Retry-After': '0' } : {});
    json(res, 200, { predictions: await modelAnswer(body) });
  });
  const t = await HttpTarget.connect({ url, backoffMs: 1, output: 'auto', ...meta });
  const p = await t.predictProbs(x, n);
  assert.equal(t.output, 'probabilities'); // auto: settled by the probe image
  for (let i = 0; i < p.length; i++) assert.ok(Math.abs(p[i] - ref[i]) < 1e-5);
  assert.equal(t.queries, 1 + n); // the probe image, then n — the two failed attempts are not queries
  assert.equal(posts, 4);
  // without enough retries the 503 surfaces
  posts = 0;
  const impatient = new HttpTarget({ url, retries: 1, backoffMs: 1, output: 'probabilities', ...meta });
  await assert.rejects(impatient.predictProbs(x, n), /HTTP 503 after 2 attempts: warming up/);
});

test('concurrency and pacing options: never more requests in flight than allowed, same answers', async () => {
  let inFlight = 0;
  let most = 0;
  const url = await customServer(async (req, body, res) => {
    if (req.method !== 'POST') return json(res, 404, { error: 'no route' });
    most = Math.max(most, ++inFlight);
    const rows = await modelAnswer(body);
    await new Promise((r) => setTimeout(r, 20));
    inFlight--;
    json(res, 200, { probabilities: rows });
  });
  const t = await openTarget({ url, concurrency: 2, paceMs: 2, maxBatch: 2, output: 'probabilities', ...meta });
  const p = await t.predictProbs(x, n);
  for (let i = 0; i < p.length; i++) assert.ok(Math.abs(p[i] - ref[i]) < 1e-5);
  assert.ok(most <= 2, `${most} requests in flight`);
  assert.equal(t.queries, n);
  assert.throws(() => new HttpTarget({ url, concurrency: 0, ...meta }), /--concurrency/);
});

test('clear one-line errors: unreachable port, non-JSON, wrong class count, bad probabilities and labels', async () => {
  const gone = await serveModel(model);
  const deadUrl = gone.url;
  await gone.close();
  await assert.rejects(
    openTarget({ url: deadUrl, ...meta }),
    (e: unknown) => e instanceof MedshieldError && e.message.includes(deadUrl) && /cannot reach/.test(e.message),
  );
  await assert.rejects(openTarget({ url: 'not a url', ...meta }), /not a URL/);

  const answers: Record<string, (res: ServerResponse, m: number) => void> = {
    '/html': (res) => {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end('<html>maintenance</html>');
    },
    '/three': (res, m) => json(res, 200, { predictions: Array.from({ length: m }, () => [0.2, 0.3, 0.5]) }),
    '/nan': (res, m) => json(res, 200, { probabilities: Array.from({ length: m }, () => [0.5, 'NaN']) }),
    '/logits': (res, m) => json(res, 200, { probabilities: Array.from({ length: m }, () => [-2.1, 3.4]) }),
    '/label7': (res, m) => json(res, 200, { labels: Array.from({ length: m }, () => 7) }),
    '/short': (res) => json(res, 200, { predictions: [0] }),
    '/gateway': (res) => json(res, 200, { label: 1, confidence: 0.9 }),
    '/bad-request': (res) => json(res, 400, { error: 'instances must be 28×28×1' }),
  };
  const url = await customServer((req, body, res) => {
    if (req.method !== 'POST') return json(res, 404, { error: 'no route' });
    const m = JSON.parse(body.toString() || '{"instances":[0]}').instances?.length ?? 1;
    answers[req.url ?? '']?.(res, m);
  });
  const at = (p: string, o: object = {}) => new HttpTarget({ url: url + p, output: 'auto', retries: 0, ...meta, ...o });
  const cases: Array<[string, RegExp]> = [
    ['/html', /did not answer JSON: <html>maintenance<\/html>/],
    ['/three', /returned 3 class scores per image, expected 2/],
    ['/nan', /probability "NaN", outside \[0,1\]/],
    ['/logits', /probability -2\.1, outside \[0,1\]/],
    ['/label7', /label 7, outside 0\.\.1/],
    ['/short', /1 labels for 3 images/],
    ['/bad-request', /HTTP 400: instances must be 28×28×1/],
  ];
  for (const [p, re] of cases) {
    await assert.rejects(
      at(p).predictProbs(x.subarray(0, 3 * D), 3),
      (e: unknown) => e instanceof MedshieldError && re.test(e.message) && !e.message.includes('\n'),
      p,
    );
  }
  // the gateway's single-image answer is understood (label only)
  const g = at('/gateway');
  assert.deepEqual(Array.from(await g.predictProbs(x.subarray(0, D), 1)), [0, 1]);
  assert.equal(g.output, 'label');
  // metadata disagreeing with the caller's dataset
  await assert.rejects(
    openTarget({ url: probsServer.url, ...meta, classes: ['a', 'b', 'c'] }),
    /has 2 classes, expected 3/,
  );
  // no metadata and none given
  await assert.rejects(openTarget({ url: url + '/three' }), /no usable \/metadata/);
});

test('the model server refuses hostile requests with a JSON error', async () => {
  const small = await serveModel(model, { bodyLimitBytes: 20_000, maxInstances: 4 });
  extra.push(() => small.close());
  const post = async (body: string | Buffer, type = 'application/json', p = '/') => {
    const r = await fetch(small.url + p, {
      method: 'POST',
      body: body as unknown as BodyInit,
      headers: { 'Content-Type': type },
    });
    const j = (await r.json()) as { error?: string };
    return { status: r.status, error: j.error ?? '' };
  };
  const row = (v: unknown) =>
    JSON.stringify({ instances: [Array.from({ length: H }, () => Array.from({ length: W }, () => Array(C).fill(v)))] });
  assert.equal((await post(row(0.5))).status, 200);
  assert.equal((await post(JSON.stringify({ instances: [Array(D).fill(0.25)] }))).status, 200); // flat image
  const cases: Array<[Promise<{ status: number; error: string }>, number, RegExp]> = [
    [post('{"instances": [[1,2'), 400, /not valid JSON/],
    [post(JSON.stringify({ instances: [[[0.5]]] })), 400, /does not have the shape 28×28×1/],
    [post(row('x')), 400, /"x" is not a number in \[0,1\]/],
    [post(row(7)), 400, /7 is not a number/],
    [post(JSON.stringify({ images: [] })), 400, /"instances"/],
    [post(JSON.stringify({ instances: Array(5).fill(Array(D).fill(0)) })), 400, /at most 4/],
    [post(JSON.stringify({ instances: Array(3).fill(Array(D).fill(0.123456789)) })), 413, /over the limit/],
    [post('hello', 'text/plain'), 415, /Content-Type/],
    [post(Buffer.from('not a png'), 'image/png'), 400, /PNG/],
    [post(encodePng(new Float32Array(32 * 32), 32, 32, 1), 'image/png'), 400, /32×32, the model takes 28×28/],
    [post(row(0.5), 'application/json', '/elsewhere'), 404, /no route/],
  ];
  for (const [r, status, re] of cases) {
    const got = await r;
    assert.equal(got.status, status, got.error);
    assert.match(got.error, re);
  }
  const meta404 = await fetch(small.url + '/metadata', { method: 'POST' });
  assert.equal(meta404.status, 405);
});

test('openTarget: a model, an ONNX file, a URL — exactly one', async () => {
  const m = await openTarget({ model, output: 'label' });
  assert.equal(m.kind, 'model');
  assert.deepEqual(Array.from(await m.predictProbs(x, n)), Array.from(decisions(ref, n, K, model.task)));
  assert.equal(m.queries, n);
  const onnx = await openTarget({
    onnx: path.join(ROOT, 'test', 'fixtures', 'pneumonia-tiny.onnx'),
    inputShape: [28, 28, 1],
  });
  assert.equal(onnx.kind, 'onnx');
  assert.equal((await onnx.predictProbs(x.subarray(0, 2 * D), 2)).length, 2 * onnx.classes.length);
  assert.equal(onnx.queries, 2);
  await assert.rejects(openTarget({}), /no target given/);
  await assert.rejects(openTarget({ model, url: probsServer.url }), /one of a URL, an ONNX file or a model/);
  await assert.rejects(openTarget({ model, inputShape: [32, 32, 3] }), /takes 28×28×1 images/);
});

test('CLI: `medshield target serve` prints its URL and answers GET /metadata', async () => {
  const child = spawn(
    process.execPath,
    [
      path.join(ROOT, 'bin', 'medshield.js'),
      'target',
      'serve',
      '--model',
      fx.dir,
      '--port',
      '0',
      '--output',
      'label',
      '--backend',
      'auto',
      '--json',
    ],
    {
      cwd: ROOT,
      env: { ...process.env, MEDSHIELD_OFFLINE: '1', MEDSHIELD_QUIET: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  try {
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      let err = '';
      child.stdout.on('data', (b: Buffer) => {
        out += b;
        if (out.includes('\n')) resolve(out.split('\n')[0]);
      });
      child.stderr.on('data', (b: Buffer) => {
        err += b;
      });
      child.on('exit', (code) => reject(new Error(`target serve exited ${code}: ${err}`)));
    });
    const info = JSON.parse(line) as { url: string; output: string };
    assert.equal(info.output, 'label');
    const m = (await (await fetch(`${info.url}/metadata`)).json()) as {
      inputShape: number[];
      classes: string[];
      task: string;
      output: string;
    };
    assert.deepEqual(m.inputShape, model.inputShape);
    assert.deepEqual(m.classes, model.classes);
    assert.equal(m.output, 'label');
    const t = await openTarget({ url: info.url, ...meta });
    assert.deepEqual(
      Array.from(await t.predictProbs(x.subarray(0, 4 * D), 4)),
      Array.from(decisions(ref.subarray(0, 4 * K), 4, K, model.task)),
    );
  } finally {
    child.kill('SIGTERM');
  }
});
