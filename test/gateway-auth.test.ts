/**
 * Gateway authentication and authorization on a real server (127.0.0.1): no key, malformed key, wrong
 * key, unknown key, revoked key, wrong role, forged mTLS client certificate → refused (401/403) and
 * audited, and the model serves nothing; per-key rate limit → 429, audited. Hardening (issue 20, item 7): every
 * refused key gets one generic message and no faster than the failure floor; scrypt runs only for an existing,
 * unrevoked key id and once per verified key; an address over its failure budget gets 429 before anything is
 * hashed; API keys in query parameters or paths never reach the logs.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { initEngine } from '../src/engine/index.js';
import { loadModel } from '../src/models/io.js';
import type { Model } from '../src/models/model.js';
import { createGateway, loadGatewayConfig, addKey, revokeKey, KeyStore, type Gateway } from '../src/gateway/index.js';
import { SCRYPT_PER_SECOND } from '../src/gateway/keys.js';
import { randomBytes } from 'node:crypto';
import { AUTH_FAILED, AUTH_FAILURE_FLOOR_MS } from '../src/gateway/plugins/auth.js';
import { createTestCa, issueCertificate } from '../src/provenance/index.js';
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
let model: Model;

before(async () => {
  await initEngine({ backend: 'cpu' });
  const dir = await tinyModelDir();
  model = await loadModel(dir);
  const real = model.predictProbs.bind(model);
  model.predictProbs = async (x, n) => {
    modelCalls += n;
    return real(x, n);
  };
  g = await makeGatewayDir(dir, (c) => {
    c.logging = { level: 'silent' };
    c.rateLimit.perKey = { max: 5, windowMs: 60000 };
    c.rateLimit.authFailures = { max: 1000, windowMs: 60000 };
  });
  gw = await createGateway(loadGatewayConfig(g.config), { model });
  base = await gw.listen(0, '127.0.0.1');
  body = await signedDicom(g, (await testImages(1))[0].pixels);
});
after(async () => {
  await gw?.close();
});

async function records(): Promise<any[]> {
  await gw.ctx.audit.flush();
  return gw.ctx.audit.store.page(0, 10000);
}

test('callers without a valid key or role are refused, audited, and the model is never called', async () => {
  const revoked = addKey(g.keysFile, 'clinician', 'to revoke');
  revokeKey(g.keysFile, revoked.id);
  const auditor = g.auditorKey;
  // [name, headers, status, audited reason]
  const cases: Array<[string, Record<string, string>, number, RegExp]> = [
    ['no key', {}, 401, /no API key/],
    ['not bearer', { authorization: 'Basic dXNlcjpwdw==' }, 401, /not a Bearer token/],
    ['malformed', { authorization: 'Bearer hunter2' }, 401, /malformed API key/],
    ['unknown id', { authorization: 'Bearer msk_00000000_' + 'a'.repeat(43) }, 401, /unknown API key/],
    ['wrong secret', { authorization: `Bearer ${g.apiKey.slice(0, 13)}${'b'.repeat(43)}` }, 401, /wrong API key/],
    ['revoked', { authorization: `Bearer ${revoked.apiKey}` }, 401, /revoked/],
    ['wrong role', { authorization: `Bearer ${auditor}` }, 403, /role 'auditor' may not call POST \/v1\/infer/],
  ];
  const before = (await records()).length;
  const hashes0 = gw.ctx.keys.hashes;
  for (const [name, headers, status] of cases) {
    const t0 = performance.now();
    const r = await request(`${base}/v1/infer`, { body, headers: { ...headers, 'content-type': 'application/dicom' } });
    const ms = performance.now() - t0;
    assert.equal(r.status, status, `${name}: ${r.body}`);
    if (status === 401) {
      assert.equal(r.json.message, AUTH_FAILED, `${name}: one message for every refused key`);
      assert.ok(ms >= AUTH_FAILURE_FLOOR_MS - 5, `${name}: refused after ${ms.toFixed(0)} ms, not before the floor`);
    } else assert.match(r.json.message, cases.find((c) => c[0] === name)![3], name);
    assert.ok(r.headers['x-request-id'], name);
  }
  // scrypt ran for the wrong secret only (its id exists, unrevoked) and for the auditor key, once: never for
  // missing, malformed, unknown or revoked keys.
  assert.equal(gw.ctx.keys.hashes - hashes0, 2, 'scrypt only for existing, unrevoked key ids');
  assert.equal(modelCalls, 0, 'the model served nobody');
  const recs = (await records()).slice(before);
  assert.equal(recs.length, cases.length);
  cases.forEach(([name, , , reason], i) =>
    assert.match(recs[i].reason, reason, `${name}: the audit record keeps the cause`),
  );
  for (const rec of recs) {
    assert.equal(rec.event, 'UserAuthentication');
    assert.notEqual(rec.outcome, 0);
    assert.ok(rec.reason);
    assert.equal(rec.modelId, null);
  }
  assert.equal(recs.find((r) => r.status === 401 && /revoked/.test(r.reason)).userId, revoked.id);
  // The clinician clinician key still works, and the audit log can be read only by auditor/admin.
  const ok = await infer(base, g.apiKey, body);
  assert.equal(ok.status, 200, ok.body);
  assert.equal(modelCalls, 1);
  const h1 = gw.ctx.keys.hashes;
  assert.equal((await infer(base, g.apiKey, body)).status, 200);
  assert.equal(gw.ctx.keys.hashes, h1, 'a verified key is remembered: no second scrypt');
  assert.equal(modelCalls, 2);
  assert.equal((await request(`${base}/v1/audit`, { headers: { authorization: `Bearer ${g.apiKey}` } })).status, 403);
  const list = await request(`${base}/v1/audit?after=0&limit=5`, { headers: { authorization: `Bearer ${auditor}` } });
  assert.equal(list.status, 200);
  assert.equal(list.json.records.length, 5);
  const since = await request(
    `${base}/v1/audit?since=${encodeURIComponent(new Date(Date.now() - 60_000).toISOString())}`,
    { headers: { authorization: `Bearer ${auditor}` } },
  );
  assert.equal(since.status, 200);
  assert.ok(
    since.json.records.some((r: { status: number; route: string }) => r.status === 200 && r.route === 'POST /v1/infer'),
  );
  const bad = await request(`${base}/v1/audit?since=yesterday`, { headers: { authorization: `Bearer ${auditor}` } });
  assert.equal(bad.status, 400);
  assert.match(bad.json.message, /since/);
});

test('no key material or image bytes reach the logs', async () => {
  const lines: string[] = [];
  const sink = {
    write(s: string) {
      lines.push(s);
      return true;
    },
  } as unknown as NodeJS.WritableStream;
  const cfg = loadGatewayConfig(g.config);
  cfg.logging.level = 'debug';
  cfg.audit.url = `sqlite:${path.join(path.dirname(g.config), 'audit-logs.db')}`;
  const gw2 = await createGateway(cfg, { model, logStream: sink });
  const b2 = await gw2.listen(0, '127.0.0.1');
  await infer(b2, g.apiKey, body);
  await infer(b2, 'msk_00000000_' + 'c'.repeat(43), body);
  // Keys sent where they do not belong: query parameters (any case, URL-encoded names) and the path.
  const secret = g.apiKey.slice(13);
  await request(`${b2}/v1/audit?limit=5&api_key=${g.auditorKey}`);
  await request(`${b2}/v1/infer?Access-Token=${secret}&x=1`, {
    body,
    headers: { 'content-type': 'application/dicom' },
  });
  await request(`${b2}/v1/no-such/${g.apiKey}?token=d${'d'.repeat(30)}`);
  await gw2.close();
  const all = lines.join('');
  assert.ok(all.includes('request completed'), 'request logs are written');
  assert.ok(
    all.includes('api_key=[REDACTED]') && all.includes('Access-Token=[REDACTED]') && all.includes('limit=5'),
    'credential parameters are redacted, others kept',
  );
  assert.ok(!all.includes(g.auditorKey.slice(13)), 'no auditor secret from a query parameter in logs');
  assert.ok(!all.includes('d'.repeat(30)), 'no token parameter in logs');

  assert.ok(!all.includes(g.apiKey.slice(13)), 'no API key secret in logs');
  assert.ok(!all.includes('c'.repeat(43)), 'no presented key in logs');
  assert.ok(
    !all.includes('DICM') && !all.includes(body.subarray(200, 240).toString('base64')),
    'no image data in logs',
  );
});

test('an address over its failure budget gets 429 before any key is hashed; audited', async () => {
  const cfg = loadGatewayConfig(g.config);
  cfg.rateLimit.authFailures = { max: 3, windowMs: 60000 };
  cfg.audit.url = `sqlite:${path.join(path.dirname(g.config), 'audit-failures.db')}`;
  const gw2 = await createGateway(cfg, { model });
  const b2 = await gw2.listen(0, '127.0.0.1');
  try {
    const wrong = `${g.apiKey.slice(0, 13)}${'e'.repeat(43)}`;
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await infer(b2, wrong, body)).status);
    assert.deepEqual(statuses, [401, 401, 401, 429, 429, 429]);
    assert.equal(gw2.ctx.keys.hashes, 3, 'no scrypt once the address is over its budget');
    const last = await infer(b2, g.apiKey, body);
    assert.equal(last.status, 429, 'the budget is per address: even a good key waits out the window');
    assert.ok(Number(last.headers['retry-after']) > 0);
    await gw2.ctx.audit.flush();
    const recs = (await gw2.ctx.audit.store.page(0, 100)).filter((r) => r.status === 429);
    assert.equal(recs.length, 4);
    for (const r of recs) {
      assert.equal(r.event, 'SecurityAlert');
      assert.match(r.reason!, /too many failed authentications/);
    }
  } finally {
    await gw2.close();
  }
});

test('per-key rate limit: requests over the limit get 429 and are audited', async () => {
  const k = addKey(g.keysFile, 'clinician', 'rate').apiKey;
  const statuses: number[] = [];
  for (let i = 0; i < 7; i++) statuses.push((await infer(base, k, body)).status);
  assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429]);
  const recs = (await records()).filter((r) => r.status === 429);
  assert.equal(recs.length, 2);
  for (const r of recs) {
    assert.equal(r.event, 'SecurityAlert');
    assert.match(r.reason, /rate limit per API key/);
  }
});

test('mTLS: a forged client certificate (same subject, untrusted issuer) is refused and audited', async () => {
  const ca = await createTestCa('CN=hospital client CA');
  const server = await issueCertificate(ca, { subject: 'CN=127.0.0.1' });
  const client = await issueCertificate(ca, { subject: 'CN=pacs-router' });
  const forger = await createTestCa('CN=hospital client CA');
  const forged = await issueCertificate(forger, { subject: 'CN=pacs-router' });
  const d = path.dirname(g.config);
  const w = (n: string, s: string) => {
    const f = path.join(d, n);
    writeFileSync(f, s);
    return f;
  };
  const cfg = loadGatewayConfig(g.config);
  cfg.tls = {
    cert: w('srv.pem', server.certPem),
    key: w('srv-key.pem', server.keyPem),
    clientCa: w('client-ca.pem', ca.certPem),
    requireClientCert: true,
  };
  cfg.audit.url = `sqlite:${path.join(d, 'audit-mtls.db')}`;
  const calls0 = modelCalls;
  const gw2 = await createGateway(cfg, { model });
  const url = await gw2.listen(0, '127.0.0.1');
  const post = (cert?: { certPem: string; keyPem: string }) =>
    new Promise<number>((resolve, reject) => {
      const req = https.request(
        `${url}/v1/infer`,
        {
          method: 'POST',
          rejectUnauthorized: false,
          ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}),
          headers: {
            authorization: `Bearer ${g.apiKey}`,
            'content-type': 'application/dicom',
            'content-length': body.length,
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  try {
    assert.equal(await post(forged), 401);
    assert.equal(await post(), 401);
    assert.equal(modelCalls, calls0, 'nothing served without a trusted client certificate');
    assert.equal(await post(client), 200);
    await gw2.ctx.audit.flush();
    const recs = (await gw2.ctx.audit.store.page(0, 100)).filter((r) => r.status === 401);
    assert.equal(recs.length, 2);
    assert.match(recs[0].reason!, /client certificate not trusted/);
    assert.match(recs[1].reason!, /no client certificate/);
  } finally {
    await gw2.close();
  }
});

test('a wrong-key flood over many addresses: scrypt starts at most SCRYPT_PER_SECOND a second (burst 2×), the rest are refused unhashed', async () => {
  const ks = new KeyStore(g.keysFile);
  const id = g.apiKey.slice(4, 12);
  const rs = await Promise.all(
    Array.from({ length: 12 }, () => ks.check(`msk_${id}_${randomBytes(32).toString('base64url')}`)),
  );
  const hashed = rs.filter((r) => !r.ok && r.hashed).length;
  const busy = rs.filter((r) => !r.ok && r.busy).length;
  assert.equal(hashed + busy, 12);
  assert.ok(hashed <= 2 * SCRYPT_PER_SECOND + 1 && ks.hashes === hashed, `${hashed} hashed`);
  assert.ok(rs.every((r) => !r.ok));
  // A key verified before the flood needs no hash: it is still answered at once.
  const ks2 = new KeyStore(g.keysFile);
  assert.equal((await ks2.check(g.apiKey)).ok, true);
  const before = ks2.hashes;
  await Promise.all(Array.from({ length: 12 }, () => ks2.check(`msk_${id}_${randomBytes(32).toString('base64url')}`)));
  assert.equal((await ks2.check(g.apiKey)).ok, true, 'the verified key still passes during the flood');
  assert.ok(ks2.hashes - before <= 2 * SCRYPT_PER_SECOND + 1);
});
