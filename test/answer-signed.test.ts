/**
 * Signed answers end to end (issue #20, acceptance 4) on a real gateway serving the shipped default
 * model: real DICOM files from ../shared/data/dicom, signed by the trusted image signer, are answered
 * with a JWS that `medshield verify-result` accepts against the gateway's CA (exit 0, payload printed)
 * and refuses after one changed byte (exit 1) or against another CA (exit 1); non-JWS input is exit 2.
 * With `Accept: application/dicom` the answer is a Comprehensive SR that `dcmsign --verify` and
 * `dsrdump` accept and whose Referenced SOP Instance MAC matches the image (and no other). The audit
 * record and /healthz name the model by its weights' SHA-256 and the record binds the JWS by hash.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { initEngine } from '../src/engine/index.js';
import { createGateway, loadGatewayConfig, type Gateway } from '../src/gateway/index.js';
import { signDicom, loadSigner, createTestCa, issueCertificate, parseDicom } from '../src/provenance/index.js';
import { findElement, stringValue } from '../src/provenance/dicom-parse.js';
import { checkReferencedMac, COMPREHENSIVE_SR } from '../src/provenance/sr.js';
import { signResult, verifyResult } from '../src/provenance/result-signature.js';
import { pemCertificates } from '../src/provenance/certificates.js';
import { makeGatewayDir, type GatewayDir } from '../bench/gateway/fixtures.js';
import { cliAsync as cli, isCleanError, DICOM_DIR, ROOT } from './helpers.js';

/** Run a DCMTK tool without blocking the in-process gateway (a blocked event loop breaks keep-alive sockets). */
function run(cmd: string, args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(cmd, args, { encoding: 'utf8' }, (e, stdout, stderr) =>
      resolve({ status: e ? (typeof e.code === 'number' ? e.code : 1) : 0, stdout, stderr }),
    ),
  );
}

const FILES = ['CR-MONO1-10-chest.dcm', 'CT_small.dcm', 'MR_small_implicit.dcm'];
const card = JSON.parse(readFileSync(path.join(ROOT, 'models', 'default', 'model-card.json'), 'utf8'));
let g: GatewayDir;
let gw: Gateway;
let base: string;
let tmp: string;
let gatewayCa: string;
let otherCa: string;
const signed = new Map<string, Buffer>();

async function post(
  body: Uint8Array,
  accept?: string,
): Promise<{ status: number; type: string; headers: Headers; bytes: Buffer; json: any }> {
  const r = await fetch(`${base}/v1/infer`, {
    method: 'POST',
    body: body as unknown as BodyInit,
    headers: {
      authorization: `Bearer ${g.apiKey}`,
      'content-type': 'application/dicom',
      ...(accept ? { accept } : {}),
    },
  });
  const bytes = Buffer.from(await r.arrayBuffer());
  let json: any = null;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    /* DICOM */
  }
  return { status: r.status, type: r.headers.get('content-type') ?? '', headers: r.headers, bytes, json };
}

before(async () => {
  await initEngine();
  tmp = mkdtempSync(path.join(tmpdir(), 'ms-answer-'));
  // The gateway's answer key under its own CA (not the image signers' CA), as the config points at it.
  const ca = await createTestCa('CN=medshield gateway answers test CA,O=medshield');
  const gwCert = await issueCertificate(ca, { keyType: 'ec', subject: 'CN=medshield gateway,O=medshield' });
  gatewayCa = path.join(tmp, 'gateway-ca.pem');
  writeFileSync(gatewayCa, ca.certPem);
  writeFileSync(path.join(tmp, 'gw-key.pem'), gwCert.keyPem, { mode: 0o600 });
  writeFileSync(path.join(tmp, 'gw-cert.pem'), gwCert.certPem);
  otherCa = path.join(tmp, 'other-ca.pem');
  writeFileSync(otherCa, (await createTestCa('CN=some other CA')).certPem);
  g = await makeGatewayDir('default', (c) => {
    c.logging = { level: 'silent' };
    c.output = { mode: 'probs', decimals: 3 };
    c.audit.signingKey = path.join(tmp, 'gw-key.pem');
    c.audit.signingCert = path.join(tmp, 'gw-cert.pem');
  });
  gw = await createGateway(loadGatewayConfig(g.config));
  base = await gw.listen(0, '127.0.0.1');
  const signer = loadSigner(readFileSync(g.signerKey), readFileSync(g.signerCert));
  for (const f of FILES)
    signed.set(
      f,
      Buffer.from((await signDicom(readFileSync(path.join(DICOM_DIR, f)), { signer, mac: 'SHA256' })).bytes),
    );
});
after(async () => {
  await gw?.close();
});

test('the JSON answer carries a JWS that verify-result accepts; the payload states input, signer, model hash and prediction', async () => {
  for (const f of FILES) {
    const body = signed.get(f)!;
    const r = await post(body);
    assert.equal(r.status, 200, r.bytes.toString());
    assert.match(r.json.result, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    const file = path.join(tmp, `${f}.jws`);
    writeFileSync(file, r.json.result + '\n');
    const v = await cli(['verify-result', file, '--trust', gatewayCa, '--json']);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    const out = JSON.parse(v.stdout);
    assert.equal(out.valid, true);
    const p = out.payload;
    assert.equal(p.requestId, r.json.requestId);
    assert.equal(p.inputSha256, createHash('sha256').update(body).digest('hex'));
    const im = parseDicom(body);
    assert.equal(p.sopInstanceUid, stringValue(im, findElement(im.dataset, 0x00080018)));
    assert.equal(p.inputSigner, 'CN=medshield image signer, O=medshield');
    assert.equal(p.model, card.name);
    assert.equal(p.modelSha256, card.weights.sha256);
    assert.equal(p.modelBinding, card.weights.binding);
    assert.equal(p.label, r.json.label);
    assert.equal(p.className, r.json.className);
    assert.deepEqual(p.probabilities, r.json.probabilities);
    assert.equal(out.alg, 'ES256');
    // --input: the answer is about this exact file, not another one
    writeFileSync(path.join(tmp, `${f}.body`), body);
    assert.equal(
      (await cli(['verify-result', file, '--trust', gatewayCa, '--input', path.join(tmp, `${f}.body`)])).code,
      0,
    );
    assert.equal(
      (await cli(['verify-result', file, '--trust', gatewayCa, '--input', path.join(DICOM_DIR, f)])).code,
      1,
    );
  }
});

test('one changed byte anywhere in the JWS, another CA, or a forged alg → invalid (exit 1); not a JWS → exit 2', async () => {
  const r = await post(signed.get('CT_small.dcm')!);
  const jws: string = r.json.result;
  const [h, p, s] = jws.split('.');
  const swap = (c: string) => (c === 'A' ? 'B' : 'A');
  const flips = [h.length + 1 + Math.floor(p.length / 2), h.length + 1 + p.length + 1 + 10, 40];
  for (const at of flips) {
    const bad = jws.slice(0, at) + swap(jws[at]) + jws.slice(at + 1);
    const file = path.join(tmp, `flip-${at}.jws`);
    writeFileSync(file, bad);
    const v = await cli(['verify-result', file, '--trust', gatewayCa, '--json']);
    assert.notEqual(v.code, 0, `flip at ${at} accepted`);
    if (at > h.length) {
      assert.equal(v.code, 1, v.stderr);
      assert.equal(JSON.parse(v.stdout).valid, false);
    }
  }
  const good = path.join(tmp, 'good.jws');
  writeFileSync(good, jws);
  const other = await cli(['verify-result', good, '--trust', otherCa, '--json']);
  assert.equal(other.code, 1);
  assert.match(JSON.parse(other.stdout).reason, /not issued by a trusted CA/);
  // alg swapped to none / HS256 (header re-encoded, signature kept) is refused
  for (const alg of ['none', 'HS256', 'RS256']) {
    const hdr = JSON.parse(Buffer.from(h, 'base64url').toString());
    hdr.alg = alg;
    const v = await verifyResult(`${Buffer.from(JSON.stringify(hdr)).toString('base64url')}.${p}.${s}`, {
      trust: pemCertificates(readFileSync(gatewayCa, 'utf8')),
    });
    assert.equal(v.valid, false);
    assert.match(v.reason, /is not the algorithm/);
  }
  const notJws = await cli(['verify-result', path.join(DICOM_DIR, 'CT_small.dcm'), '--trust', gatewayCa]);
  assert.ok(isCleanError(notJws), notJws.stderr);
  assert.match(notJws.stderr, /not a compact JWS/);
  const missing = await cli(['verify-result', path.join(tmp, 'nope.jws'), '--trust', gatewayCa]);
  assert.ok(isCleanError(missing), missing.stderr);
});

test('an RSA gateway key signs RS256; the library verifies it against its CA', async () => {
  const ca = await createTestCa('CN=rsa answers CA');
  const c = await issueCertificate(ca, { keyType: 'rsa' });
  const s = loadSigner(c.keyPem, c.certPem);
  const jws = signResult(
    {
      requestId: 'r',
      inputSha256: '0'.repeat(64),
      sopInstanceUid: null,
      inputSigner: null,
      model: 'm',
      modelSha256: null,
      label: 0,
      className: 'normal',
      time: new Date().toISOString(),
    },
    { key: s.key, chain: [s.certDer] },
  );
  const v = await verifyResult(jws, { trust: pemCertificates(ca.certPem) });
  assert.equal(v.valid, true, v.reason);
  assert.equal(v.alg, 'RS256');
});

test('Accept: application/dicom → a signed Comprehensive SR that dcmsign and dsrdump accept, with a Referenced SOP Instance MAC of the image', async () => {
  for (const f of FILES) {
    const body = signed.get(f)!;
    const r = await post(body, 'application/dicom');
    assert.equal(r.status, 200, r.bytes.toString());
    assert.match(r.type, /^application\/dicom/);
    const sr = r.bytes;
    const file = path.join(tmp, `${f}.sr.dcm`);
    writeFileSync(file, sr);
    const p = parseDicom(sr);
    assert.equal(stringValue(p, findElement(p.dataset, 0x00080016)), COMPREHENSIVE_SR);
    const ds = await run('dcmsign', ['--verify', '--add-cert-file', gatewayCa, file]);
    assert.equal(ds.status, 0, ds.stdout + ds.stderr);
    assert.match(ds.stdout + ds.stderr, /Signature Verification : OK/);
    const dump = await run('dsrdump', [file]);
    assert.equal(dump.status, 0, dump.stderr);
    assert.equal(dump.stderr.trim(), '', dump.stderr);
    assert.match(dump.stdout, /Comprehensive SR Document/);
    assert.match(dump.stdout, /CODE:\(,,"Finding"\)=\(CLASS\d,99MEDSHIELD,"(normal|pneumonia)"\)/);
    assert.match(dump.stdout, /NUM:\(,,"Probability of pneumonia"\)=/);
    assert.match(dump.stdout, new RegExp(`Algorithm Version"\\)="sha256:${card.weights.sha256.slice(0, 20)}`));
    const own = await cli(['dicom', 'verify', '--trust', gatewayCa, '--require-signature', file, '--json']);
    assert.equal(own.code, 0, own.stdout + own.stderr);
    assert.equal(checkReferencedMac(sr, body).valid, true);
    const other = signed.get(FILES.find((x) => x !== f)!)!;
    assert.equal(checkReferencedMac(sr, other).valid, false);
    // the same answer as JWS rides along in a header, and verifies
    const hdr = r.headers.get('x-medshield-result')!;
    assert.equal((await verifyResult(hdr, { trust: pemCertificates(readFileSync(gatewayCa, 'utf8')) })).valid, true);
    // one changed byte of the SR's content → dcmsign refuses it
    const bad = Buffer.from(sr);
    const at = sr.indexOf('Probability of');
    bad[at] ^= 0x20;
    writeFileSync(file, bad);
    assert.notEqual((await run('dcmsign', ['--verify', '--add-cert-file', gatewayCa, file])).status, 0);
  }
});

test('the audit record names the model by its weights hash and binds the signed answer; /healthz shows the hash', async () => {
  const r = await post(signed.get('CR-MONO1-10-chest.dcm')!);
  await gw.ctx.audit.flush();
  const rec = (await gw.ctx.audit.store.page(0, 100000)).filter((x) => x.requestId === r.json.requestId).pop()!;
  assert.equal(rec.modelVersion, `sha256:${card.weights.sha256}`);
  assert.match(rec.decision!, new RegExp(`result:sha256:${createHash('sha256').update(r.json.result).digest('hex')}`));
  const h = (await (await fetch(`${base}/healthz`)).json()) as { model: string };
  assert.match(h.model, new RegExp(card.weights.sha256));
});
