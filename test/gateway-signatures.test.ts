/**
 * Verify-before-infer on a real gateway: signed MedMNIST test images (as DICOM) are served with the
 * signer and profile; a 1-byte tampered, an adversarially perturbed (±2 grey levels, L∞ = 2/255, after
 * signing), an unsigned, and an untrusted-signer image get 422 with the reason, are audited as
 * SecurityAlert, and never reach the model; so do a polyglot (PNG signature in the unsigned preamble)
 * and a Rescale Slope added after signing (issue 20). A real DICOM file from ../shared/data signed by
 * the configured signer is served too.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { initEngine } from '../src/engine/index.js';
import { loadModel } from '../src/models/io.js';
import { createGateway, loadGatewayConfig, type Gateway } from '../src/gateway/index.js';
import { signDicom, loadSigner, createTestCa, issueCertificate, parseDicom } from '../src/provenance/index.js';
import { findElement, PIXEL_DATA } from '../src/provenance/dicom-parse.js';
import { encodeElement } from '../src/provenance/dicom-encode.js';
import { PACKAGE_ROOT } from '../src/version.js';
import {
  makeGatewayDir,
  tinyModelDir,
  testImages,
  signedDicom,
  infer,
  type GatewayDir,
} from '../bench/gateway/fixtures.js';
import { writeDicom } from '../bench/gateway/dicom-writer.js';

let g: GatewayDir;
let gw: Gateway;
let base: string;
let modelCalls = 0;
let imgs: Awaited<ReturnType<typeof testImages>>;

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
    c.output = { mode: 'probs', decimals: 3 };
  });
  gw = await createGateway(loadGatewayConfig(g.config), { model });
  base = await gw.listen(0, '127.0.0.1');
  imgs = await testImages(10);
});
after(async () => {
  await gw?.close();
});

test('signed images are served with label, class, probabilities and the signature report', async () => {
  for (const im of imgs) {
    const r = await infer(base, g.apiKey, await signedDicom(g, im.pixels));
    assert.equal(r.status, 200, r.body);
    assert.ok([0, 1].includes(r.json.label));
    assert.equal(r.json.className, ['normal', 'pneumonia'][r.json.label]);
    assert.equal(r.json.probabilities.length, 2);
    assert.ok(Math.abs(r.json.probabilities[0] + r.json.probabilities[1] - 1) < 0.002);
    assert.deepEqual(r.json.signature, {
      valid: true,
      signed: true,
      signer: 'CN=medshield image signer, O=medshield',
      profile: r.json.signature.profile,
    });
    assert.ok(['base', 'creator', 'authorization'].includes(r.json.signature.profile));
    assert.deepEqual(r.json.flags, []);
  }
  assert.equal(modelCalls, imgs.length);
});

test('a real DICOM file (CT_small.dcm) signed by the trusted signer is served', async () => {
  const f = path.join(PACKAGE_ROOT, '..', 'shared', 'data', 'dicom', 'CT_small.dcm');
  const signer = loadSigner(readFileSync(g.signerKey), readFileSync(g.signerCert));
  const signed = (await signDicom(readFileSync(f), { signer, profile: 'base', mac: 'SHA256' })).bytes;
  const r = await infer(base, g.apiKey, signed);
  assert.equal(r.status, 200, r.body);
  await gw.ctx.audit.flush();
  const last = (await gw.ctx.audit.store.page(0, 10000)).filter((x) => x.status === 200).pop()!;
  assert.match(last.sopInstanceUid!, /^[0-9.]+$/);
  assert.match(last.imageSha256!, /^[0-9a-f]{64}$/);
  assert.match(last.decision!, /^[01]:(normal|pneumonia):/);
});

test('tampered, perturbed, unsigned and untrusted images → 422, audited, never reach the model', async () => {
  const calls = modelCalls;
  const signed = await signedDicom(g, imgs[0].pixels);
  const px = findElement(parseDicom(signed).dataset, PIXEL_DATA)!;
  const pixelStart = px.valueOffset;
  const oneByte = Buffer.from(signed);
  oneByte[pixelStart + 400] ^= 0x01;
  const perturbed = Buffer.from(signed);
  for (let i = 0; i < 784; i++)
    perturbed[pixelStart + i] = Math.min(255, Math.max(0, perturbed[pixelStart + i] + (i % 2 ? 2 : -2)));
  const unsigned = writeDicom({ rows: 28, cols: 28, pixels: imgs[0].pixels });
  const rogueCa = await createTestCa('CN=rogue CA');
  const rogue = await issueCertificate(rogueCa, { keyType: 'ec', subject: 'CN=medshield image signer,O=medshield' });
  const rogueSigned = Buffer.from(
    (await signDicom(unsigned, { signer: loadSigner(rogue.keyPem, rogue.certPem), profile: 'base', mac: 'SHA256' }))
      .bytes,
  );
  // Issue 20: a PNG signature in the unsigned preamble (polyglot), a Rescale Slope added after signing.
  const parsed = parseDicom(signed);
  assert.ok(parsed.hasPreamble);
  const polyglot = Buffer.from(signed);
  polyglot.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 0);
  assert.equal(findElement(parsed.dataset, 0x00281053), undefined);
  const next = parsed.dataset.find((e) => e.tag > 0x00281053)!;
  const windowed = Buffer.concat([
    signed.subarray(0, next.start),
    encodeElement(0x00281053, 'DS', Buffer.from('-3'), {
      explicitVR: parsed.ts.explicitVR,
      littleEndian: parsed.ts.littleEndian,
    }),
    signed.subarray(next.start),
  ]);
  const cases: Array<[string, Buffer, RegExp]> = [
    ['PNG signature in the preamble', polyglot, /preamble carries a PNG signature/],
    ['Rescale Slope added after signing', windowed, /\(0028,1053\) Rescale Slope is not covered by a valid signature/],
    ['1-byte tampered pixel', oneByte, /does not match the signed data/],
    ['adversarially perturbed after signing', perturbed, /does not match the signed data/],
    ['unsigned', unsigned, /unsigned: the policy requires a signature/],
    ['signed by an untrusted CA', rogueSigned, /not issued by a trusted CA/],
  ];
  const before = (await gw.ctx.audit.store.page(0, 100000)).length;
  for (const [name, b, why] of cases) {
    const r = await infer(base, g.apiKey, b);
    assert.equal(r.status, 422, `${name}: ${r.body}`);
    assert.match(r.json.message, why, name);
  }
  assert.equal(modelCalls, calls, 'no refused image reached the model');
  await gw.ctx.audit.flush();
  const recs = (await gw.ctx.audit.store.page(0, 100000)).slice(before);
  assert.equal(recs.length, cases.length);
  for (const r of recs) {
    assert.equal(r.event, 'SecurityAlert');
    assert.equal(r.status, 422);
    assert.equal(r.decision, null);
    assert.match(r.imageSha256!, /^[0-9a-f]{64}$/);
  }
});
