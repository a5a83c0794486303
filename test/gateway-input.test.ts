/**
 * Bad input against a real gateway on 127.0.0.1: oversized body (413), truncated DICOM, empty body,
 * wrong / missing Content-Type and a JSON bomb (415, never parsed), slow-loris body (connection cut at
 * timeouts.requestMs) — each a 4xx or timeout with a clear message, audited, and the server stays healthy.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import SwaggerParser from '@apidevtools/swagger-parser';
import { initEngine } from '../src/engine/index.js';
import { loadModel } from '../src/models/io.js';
import { createGateway, loadGatewayConfig, type Gateway } from '../src/gateway/index.js';
import {
  makeGatewayDir,
  tinyModelDir,
  testImages,
  signedDicom,
  infer,
  request,
  type GatewayDir,
} from '../bench/gateway/fixtures.js';

let g: GatewayDir;
let gw: Gateway;
let base: string;
let body: Buffer;
let modelCalls = 0;

before(async () => {
  await initEngine({ backend: 'cpu' });
  const model = await loadModel(await tinyModelDir());
  const real = model.predictProbs.bind(model);
  model.predictProbs = async (x, n) => {
    modelCalls += n;
    return real(x, n);
  };
  g = await makeGatewayDir('default', (c) => {
    c.logging = { level: 'silent' };
    c.inputs.bodyLimitBytes = 64 * 1024;
    c.timeouts = { requestMs: 1500, headersMs: 1000, keepAliveMs: 1000, inferenceMs: 10000, shutdownMs: 2000 };
  });
  gw = await createGateway(loadGatewayConfig(g.config), { model });
  base = await gw.listen(0, '127.0.0.1');
  body = await signedDicom(g, (await testImages(1))[0].pixels);
});
after(async () => {
  await gw?.close();
});

async function healthy(): Promise<void> {
  const r = await request(`${base}/healthz`);
  assert.equal(r.status, 200);
  assert.equal(r.json.status, 'ok');
}

test('oversized body → 413 naming the limit', async () => {
  const big = Buffer.concat([body, Buffer.alloc(100 * 1024)]);
  const r = await infer(base, g.apiKey, big);
  assert.equal(r.status, 413);
  assert.match(r.json.message, /larger than inputs\.bodyLimitBytes \(65536 bytes\)/);
  await healthy();
});

test('truncated and empty DICOM → 422 with the reason, never reaching the model', async () => {
  const calls = modelCalls;
  for (const cut of [body.subarray(0, 300), body.subarray(0, body.length - 100), Buffer.alloc(0)]) {
    const r = await infer(base, g.apiKey, cut);
    assert.equal(r.status, 422, r.body);
    assert.match(r.json.message, /^image refused: /);
  }
  assert.equal(modelCalls, calls);
  await healthy();
});

test('wrong or missing Content-Type and a JSON bomb → 415, body never parsed', async () => {
  const bomb = Buffer.from('['.repeat(50000) + ']'.repeat(50000));
  const cases: Array<[string | undefined, Buffer]> = [
    ['image/png', body],
    ['application/json', bomb],
    ['text/plain', body],
    [undefined, body],
  ];
  for (const [type, b] of cases) {
    const r = await request(`${base}/v1/infer`, {
      body: b,
      headers: { authorization: `Bearer ${g.apiKey}`, ...(type ? { 'content-type': type } : {}) },
    });
    assert.equal(r.status, 415, `${type}: ${r.body}`);
    assert.match(r.json.message, /accepted: application\/dicom/);
  }
  await gw.ctx.audit.flush();
  const recs = (await gw.ctx.audit.store.page(0, 10000)).filter((r) => r.status === 415);
  assert.equal(recs.length, cases.length, 'every refusal audited');
  await healthy();
});

test('slow-loris body is cut off after timeouts.requestMs; the server stays healthy', async () => {
  const url = new URL(base);
  const sock = net.connect(Number(url.port), url.hostname);
  await new Promise((r) => sock.once('connect', r));
  sock.write(
    `POST /v1/infer HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${g.apiKey}` +
      `\r\nContent-Type: application/dicom\r\nContent-Length: ${body.length}\r\n\r\n`,
  );
  let got = '';
  sock.on('data', (d) => {
    got += d.toString();
  });
  const t0 = Date.now();
  let sent = 0;
  const closed = new Promise<void>((resolve) => sock.once('close', () => resolve()));
  const drip = setInterval(() => {
    if (!sock.destroyed && sent < body.length) sock.write(body.subarray(sent, ++sent));
  }, 100);
  const outcome = await Promise.race([
    closed.then(() => 'closed'),
    new Promise((r) => setTimeout(() => r('still open'), 8000)),
  ]);
  clearInterval(drip);
  sock.destroy();
  assert.equal(outcome, 'closed', 'server must drop a slow body');
  assert.ok(Date.now() - t0 < 8000);
  assert.ok(sent < body.length, 'cut off before the body completed');
  if (got) assert.match(got, /^HTTP\/1\.1 408/);
  await healthy();
});

test('unknown routes → 404 JSON; OpenAPI document lists every endpoint', async () => {
  const r = await request(`${base}/v1/nothing`, { headers: { authorization: `Bearer ${g.apiKey}` } });
  assert.equal(r.status, 404);
  const doc = await request(`${base}/openapi.json`);
  assert.equal(doc.status, 200);
  assert.equal(doc.json.openapi, '3.0.3');
  for (const p of ['/v1/infer', '/v1/audit', '/v1/audit/verify', '/healthz', '/metrics'])
    assert.ok(doc.json.paths[p], p);
  assert.equal(doc.json.paths['/v1/infer'].post.requestBody.content['application/dicom'].schema.format, 'binary');
  assert.ok(doc.json.components.securitySchemes.bearerAuth);
  await SwaggerParser.validate(structuredClone(doc.json)); // throws if not a valid OpenAPI 3.0 document
  const ui = await request(`${base}/docs/`);
  assert.equal(ui.status, 200);
  assert.match(ui.body, /swagger/i);
  const m = await request(`${base}/metrics`);
  assert.match(m.body, /medshield_requests_total\{route="\/v1\/infer",status="413"\} 1/);
});

test('audit store failure: the gateway fails closed (503, no answer without a record)', async () => {
  const calls = modelCalls;
  await gw.ctx.audit.store.close();
  const r = await infer(base, g.apiKey, body);
  assert.equal(r.status, 503, r.body);
  assert.match(r.json.message, /audit log unavailable/);
  assert.ok(!('label' in r.json), 'no diagnosis leaked');
  assert.ok(modelCalls <= calls + 1);
});
