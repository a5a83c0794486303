/**
 * `medshield keys init`, `dicom sign|verify|dump` contracts and errors: exit 0/1/2, one-line errors,
 * JSON shape; expired and untrusted certificates, a key that does not match the certificate, a
 * substituted certificate (wrong key for the signature) and a non-DICOM file.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { cli, isCleanError, DICOM_DIR } from './helpers.js';
import { createTestCa, issueCertificate, signDicom, loadSigner, type KeyFiles } from '../src/provenance/index.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'ms-prov-cli-'));
const CT = path.join(DICOM_DIR, 'CT_small.dcm');
const MR = path.join(DICOM_DIR, 'MR_small_implicit.dcm');
let k: KeyFiles;

before(() => {
  const r = cli(['keys', 'init', '--out', path.join(tmp, 'keys'), '--json']);
  assert.equal(r.code, 0, r.stderr);
  k = JSON.parse(r.stdout);
  assert.deepEqual(Object.keys(k).sort(), [
    'caCert',
    'caKey',
    'ecSignerCert',
    'ecSignerKey',
    'signerCert',
    'signerKey',
  ]);
  assert.ok(!r.stdout.includes('PRIVATE KEY') && !r.stderr.includes('PRIVATE KEY'), 'private keys never printed');
  assert.match(readFileSync(k.signerKey, 'utf8'), /BEGIN PRIVATE KEY/);
});

test('dicom sign → verify --json → dump', () => {
  const out = path.join(tmp, 'ct-signed.dcm');
  const s = cli([
    'dicom',
    'sign',
    '--key',
    k.signerKey,
    '--cert',
    k.signerCert,
    '--chain',
    k.caCert,
    '--profile',
    'creator',
    '--algorithm',
    'sha384',
    CT,
    out,
    '--json',
  ]);
  assert.equal(s.code, 0, s.stderr);
  assert.equal(JSON.parse(s.stdout).coversPixelData, true);
  const v = cli(['dicom', 'verify', '--trust', k.caCert, '--require-signature', out, '--json']);
  assert.equal(v.code, 0, v.stderr);
  const rows = JSON.parse(v.stdout);
  assert.equal(rows.length, 1);
  const row = rows[0];
  for (const key of ['file', 'signed', 'valid', 'signatures']) assert.ok(key in row, key);
  assert.equal(row.valid, true);
  const sig = row.signatures[0];
  for (const key of ['uid', 'profile', 'algorithm', 'signer', 'time', 'coversPixelData', 'valid', 'reason'])
    assert.ok(key in sig, key);
  assert.equal(sig.algorithm, 'RSA-SHA384');
  assert.equal(sig.profile, 'creator');
  const d = cli(['dicom', 'dump', out]);
  assert.equal(d.code, 0, d.stderr);
  assert.match(d.stdout, /Digital Signature #1/);
  assert.match(d.stdout, /MAC Algorithm\s+SHA384/);
});

test('dicom sign --in-dir/--out-dir with an EC key; verify a folder; unsigned file under --require-signature exits 1', () => {
  const inDir = path.join(tmp, 'in');
  mkdirSync(inDir);
  for (const f of ['MR_small.dcm', 'MR_small_bigendian.dcm', 'MR_small_implicit.dcm'])
    writeFileSync(path.join(inDir, f), readFileSync(path.join(DICOM_DIR, f)));
  const outDir = path.join(tmp, 'out');
  const s = cli([
    'dicom',
    'sign',
    '--key',
    k.ecSignerKey,
    '--cert',
    k.ecSignerCert,
    '--in-dir',
    inDir,
    '--out-dir',
    outDir,
    '--json',
  ]);
  assert.equal(s.code, 0, s.stderr);
  assert.equal(readdirSync(outDir).length, 3);
  const v = cli(['dicom', 'verify', '--trust', k.caCert, outDir, '--json']);
  assert.equal(v.code, 0, v.stderr);
  assert.ok(JSON.parse(v.stdout).every((r: { valid: boolean }) => r.valid));
  const mixed = cli(['dicom', 'verify', '--trust', k.caCert, '--require-signature', outDir, MR, '--json']);
  assert.equal(mixed.code, 1);
  const rows = JSON.parse(mixed.stdout);
  assert.equal(rows.find((r: { file: string }) => r.file === MR).valid, false);
});

test('untrusted CA exits 1; no --trust exits 1 naming the fix', () => {
  const out = path.join(tmp, 'mr-signed.dcm');
  assert.equal(cli(['dicom', 'sign', '--key', k.signerKey, '--cert', k.signerCert, MR, out]).code, 0);
  const other = cli(['keys', 'init', '--out', path.join(tmp, 'other'), '--json']);
  const otherCa = JSON.parse(other.stdout).caCert;
  const v = cli(['dicom', 'verify', '--trust', otherCa, out, '--json']);
  assert.equal(v.code, 1);
  assert.match(JSON.parse(v.stdout)[0].signatures[0].reason, /not issued by a trusted CA/);
  const none = cli(['dicom', 'verify', out]);
  assert.equal(none.code, 1);
  assert.match(none.stdout, /--trust/);
});

test('expired certificate: signing refuses (exit 2); a signature by it fails verification', async () => {
  const ca = await createTestCa();
  const old = await issueCertificate(ca, {
    notBefore: new Date(Date.now() - 400 * 86400000),
    notAfter: new Date(Date.now() - 30 * 86400000),
  });
  writeFileSync(path.join(tmp, 'old-key.pem'), old.keyPem, { mode: 0o600 });
  writeFileSync(path.join(tmp, 'old-cert.pem'), old.certPem);
  const r = cli([
    'dicom',
    'sign',
    '--key',
    path.join(tmp, 'old-key.pem'),
    '--cert',
    path.join(tmp, 'old-cert.pem'),
    CT,
    path.join(tmp, 'x.dcm'),
  ]);
  assert.ok(isCleanError(r), r.stderr);
  assert.match(r.stderr, /expired/);
  // Signed while it was valid (backdated signing time), verified now: expired, exit 1.
  const signed = await signDicom(readFileSync(CT), {
    signer: loadSigner(old.keyPem, old.certPem),
    now: new Date(Date.now() - 60 * 86400000),
  });
  writeFileSync(path.join(tmp, 'old-signed.dcm'), signed.bytes);
  writeFileSync(path.join(tmp, 'old-ca.pem'), ca.certPem);
  const v = cli([
    'dicom',
    'verify',
    '--trust',
    path.join(tmp, 'old-ca.pem'),
    path.join(tmp, 'old-signed.dcm'),
    '--json',
  ]);
  assert.equal(v.code, 1);
  assert.match(JSON.parse(v.stdout)[0].signatures[0].reason, /expired/);
});

test('a key that does not match the certificate, a non-DICOM file, a missing file: one-line errors, exit 2', () => {
  const mism = cli(['dicom', 'sign', '--key', k.ecSignerKey, '--cert', k.signerCert, CT, path.join(tmp, 'y.dcm')]);
  assert.ok(isCleanError(mism), mism.stderr);
  assert.match(mism.stderr, /does not match the certificate/);
  const notDicom = cli(['dicom', 'verify', '--trust', k.caCert, k.caCert]);
  assert.ok(isCleanError(notDicom), notDicom.stderr);
  assert.match(notDicom.stderr, /not a DICOM file/);
  const signNotDicom = cli([
    'dicom',
    'sign',
    '--key',
    k.signerKey,
    '--cert',
    k.signerCert,
    k.caCert,
    path.join(tmp, 'z.dcm'),
  ]);
  assert.ok(isCleanError(signNotDicom), signNotDicom.stderr);
  const missing = cli(['dicom', 'verify', path.join(tmp, 'nope.dcm')]);
  assert.ok(isCleanError(missing), missing.stderr);
  const badKey = cli(['dicom', 'sign', '--key', k.caCert, '--cert', k.signerCert, CT, path.join(tmp, 'w.dcm')]);
  assert.ok(isCleanError(badKey), badKey.stderr);
  assert.match(badKey.stderr, /not a readable PEM private key/);
});

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
test('dicom sign --pkcs12 (password from MEDSHIELD_P12_PASSWORD); wrong password is a clean error', {
  skip: hasOpenssl ? false : 'openssl binary missing: cannot make a PKCS #12 file',
}, () => {
  const p12 = path.join(tmp, 'signer.p12');
  const mk = spawnSync('openssl', [
    'pkcs12',
    '-export',
    '-inkey',
    k.signerKey,
    '-in',
    k.signerCert,
    '-out',
    p12,
    '-passout',
    'pass:s3cret',
  ]);
  assert.equal(mk.status, 0, String(mk.stderr));
  const out = path.join(tmp, 'p12-signed.dcm');
  const s = cli(['dicom', 'sign', '--pkcs12', p12, CT, out], { env: { MEDSHIELD_P12_PASSWORD: 's3cret' } });
  assert.equal(s.code, 0, s.stderr);
  assert.equal(cli(['dicom', 'verify', '--trust', k.caCert, out]).code, 0);
  const bad = cli(['dicom', 'sign', '--pkcs12', p12, CT, out], { env: { MEDSHIELD_P12_PASSWORD: 'nope' } });
  assert.ok(isCleanError(bad), bad.stderr);
  assert.match(bad.stderr, /wrong password/);
});
