/**
 * DICOM PS3.15 signatures on the 20 real files in ../shared/data/dicom: sign → verify for every file,
 * profile and key type; the signed file differs from the original only by the inserted signature
 * sequences; repeat signing appends; policy outcomes (unsigned, pixel coverage, profile, algorithms).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { signDicom, verifyDicom, parseDicom, PROFILE_NAMES, type ProfileName } from '../src/provenance/index.js';
import { findElement } from '../src/provenance/dicom-parse.js';
import { TAG } from '../src/provenance/sign.js';
import { makePki, dicomFiles, type Pki } from '../bench/signatures/runs.js';

let pki: Pki;
const files = dicomFiles();
before(async () => {
  pki = await makePki();
});

/** The signer zeroes the preamble and Data Set Trailing Padding (no signature covers them; issue 20). */
function zeroUnsigned(original: Buffer): Buffer {
  const p = parseDicom(original);
  const out = Buffer.from(original);
  if (p.hasPreamble) out.fill(0, 0, 128);
  const pad = findElement(p.dataset, 0xfffcfffc);
  if (pad) out.fill(0, pad.valueOffset, pad.valueOffset + pad.length);
  return out;
}

/** Remove the signature sequences from a signed file (they were inserted whole). */
function stripInserted(signed: Buffer): Buffer {
  const p = parseDicom(signed);
  const ranges = [TAG.MACParametersSequence, TAG.DigitalSignaturesSequence]
    .map((t) => findElement(p.dataset, t)!)
    .map((e) => [e.start, e.end] as const)
    .sort((a, b) => b[0] - a[0]);
  let out = Buffer.from(signed);
  for (const [s, e] of ranges) out = Buffer.concat([out.subarray(0, s), out.subarray(e)]);
  return out;
}

test('the 20 real DICOM files cover the transfer syntaxes the signer must handle', () => {
  assert.equal(files.length, 20);
  const ts = new Set(files.map((f) => parseDicom(readFileSync(f)).ts.uid));
  for (const uid of [
    '1.2.840.10008.1.2',
    '1.2.840.10008.1.2.1',
    '1.2.840.10008.1.2.2',
    '1.2.840.10008.1.2.5',
    '1.2.840.10008.1.2.4.90',
  ])
    assert.ok(ts.has(uid), uid);
  assert.ok(
    files.some((f) => !parseDicom(readFileSync(f)).hasPreamble),
    'a file without preamble',
  );
});

for (const keyType of ['rsa', 'ec'] as const) {
  for (const profile of PROFILE_NAMES) {
    test(`sign → verify, ${keyType.toUpperCase()} ${profile} profile, all files; only the signature sequences are added`, async () => {
      let signedCount = 0;
      for (const f of files) {
        const original = readFileSync(f);
        let res;
        try {
          res = await signDicom(original, {
            signer: keyType === 'ec' ? pki.ec : pki.rsa,
            profile: profile as ProfileName,
            mac: keyType === 'ec' ? 'SHA384' : 'SHA256',
          });
        } catch (e) {
          // Creator/Authorization need the SOP/Study/Series UIDs; ACR-NEMA style files may lack them.
          assert.ok(
            profile !== 'base' && /profile needs \(00(08|20),00/.test((e as Error).message),
            `${path.basename(f)}: ${(e as Error).message}`,
          );
          continue;
        }
        signedCount++;
        assert.ok(
          stripInserted(res.bytes).equals(zeroUnsigned(original)),
          `${path.basename(f)}: bytes outside the signature sequences changed`,
        );
        const rep = await verifyDicom(res.bytes, { trust: [pki.caDer] });
        assert.equal(rep.valid, true, `${path.basename(f)}: ${rep.reason}`);
        assert.equal(rep.signatures.length, 1);
        const s = rep.signatures[0];
        assert.equal(s.uid, res.uid);
        assert.equal(s.algorithm, `${keyType === 'ec' ? 'ECDSA' : 'RSA'}-${keyType === 'ec' ? 'SHA384' : 'SHA256'}`);
        assert.equal(s.coversPixelData, true);
        assert.match(s.signer, /medshield test/);
        assert.deepEqual(rep.unsignedElements, []);
        if (profile !== 'base') assert.ok(s.profile === 'creator' || s.profile === 'authorization');
      }
      assert.ok(signedCount >= (profile === 'base' ? 20 : 18), `signed ${signedCount}`);
    });
  }
}

test('a second signature is appended to the existing sequences and both verify', async () => {
  for (const f of files.slice(0, 6)) {
    const once = await signDicom(readFileSync(f), { signer: pki.rsa });
    const twice = await signDicom(once.bytes, { signer: pki.ec, mac: 'SHA512' });
    assert.equal(twice.macId, 1);
    const rep = await verifyDicom(twice.bytes, { trust: [pki.caDer] });
    assert.equal(rep.valid, true, rep.reason);
    assert.deepEqual(
      rep.signatures.map((s) => s.algorithm),
      ['RSA-SHA256', 'ECDSA-SHA512'],
    );
  }
});

test('policy: unsigned files pass only when allowed, and the report says so', async () => {
  const bytes = readFileSync(files[0]);
  const open = await verifyDicom(bytes, { trust: [pki.caDer] });
  assert.equal(open.valid, true);
  assert.equal(open.signed, false);
  assert.match(open.reason, /unsigned \(allowed by policy\)/);
  const strict = await verifyDicom(bytes, { trust: [pki.caDer], requireSignature: true });
  assert.equal(strict.valid, false);
  assert.match(strict.reason, /requires a signature/);
});

test('policy: untrusted CA, disallowed algorithm, pixel coverage and elements added after signing', async () => {
  const f = files.find((x) => x.endsWith('CT_small.dcm'))!;
  const signed = (await signDicom(readFileSync(f), { signer: pki.rsa })).bytes;
  const noTrust = await verifyDicom(signed, { trust: [] });
  assert.equal(noTrust.valid, false);
  assert.match(noTrust.signatures[0].reason, /no trust anchors/);
  const other = await makePki();
  const wrongCa = await verifyDicom(signed, { trust: [other.caDer] });
  assert.equal(wrongCa.valid, false);
  assert.match(wrongCa.signatures[0].reason, /not issued by a trusted CA/);
  const algo = await verifyDicom(signed, { trust: [pki.caDer], allowedAlgorithms: ['ECDSA-SHA256'] });
  assert.equal(algo.valid, false);
  assert.match(algo.signatures[0].reason, /RSA-SHA256 is not allowed/);
  const expiredAt = await verifyDicom(signed, { trust: [pki.caDer], at: new Date(Date.now() + 3 * 365 * 86400000) });
  assert.equal(expiredAt.valid, false);
  assert.match(expiredAt.signatures[0].reason, /expired/);
});
