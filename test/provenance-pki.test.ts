/**
 * Certificates and keys (issue 20, item 7): the image-signer certificate policy (digitalSignature key usage,
 * no CA certificates — RFC 5280 §4.2.1.3, §4.2.1.9), the gateway's audit key under a separate CA, private key
 * and config file modes whatever the umask and whatever existed before, `keys init` refusing to overwrite
 * without --force, and file-system errors (ENOTDIR, EPERM, EACCES, ...) as one line with exit code 2.
 * Signatures with certificates medshield refuses to sign with are made by DCMTK's dcmsign (a scanner with a
 * misissued certificate); the images are the real files of ../shared/data/dicom.
 */
import 'reflect-metadata';
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as x509 from '@peculiar/x509';
import {
  signDicom,
  verifyDicom,
  loadSigner,
  pemCertificates,
  createTestCa,
  issueCertificate,
  type TestCa,
} from '../src/provenance/index.js';
import { signerCertificateProblem } from '../src/provenance/certificates.js';
import { initGateway, loadGatewayConfig } from '../src/gateway/index.js';
import { fileSystemError, MedshieldError } from '../src/errors.js';
import { ROOT, DICOM_DIR, cli, isCleanError, type CliResult } from './helpers.js';

const hasDcmsign = spawnSync('dcmsign', ['--version'], { encoding: 'utf8' }).status === 0;
const noDcmsign = hasDcmsign ? false : 'dcmsign (Debian package dcmtk) is not installed';
const tmp = mkdtempSync(path.join(tmpdir(), 'ms-pki-'));
const IMAGE = path.join(DICOM_DIR, 'CT_small.dcm');
let ca: TestCa;
let trust: Buffer[];

before(async () => {
  ca = await createTestCa('CN=medshield pki test CA,O=medshield');
  trust = pemCertificates(ca.certPem);
});

const mode = (f: string): number => statSync(f).mode & 0o777;
const octal = (m: number): string => '0' + m.toString(8);

/** Write a key + certificate pair and let dcmsign sign the real image with it. */
function dcmsignWith(name: string, keyPem: string, certPem: string): Buffer {
  const k = path.join(tmp, `${name}-key.pem`);
  const c = path.join(tmp, `${name}-cert.pem`);
  const out = path.join(tmp, `${name}.dcm`);
  writeFileSync(k, keyPem, { mode: 0o600 });
  writeFileSync(c, certPem);
  const r = spawnSync('dcmsign', ['--sign', k, c, '--mac-sha256', IMAGE, out], { encoding: 'utf8' });
  assert.equal(r.status, 0, `dcmsign --sign with ${name}: ${r.stdout}${r.stderr}`);
  return readFileSync(out);
}

test('a signer certificate without the digitalSignature key usage (or without keyUsage) is refused for signing, and its signatures are invalid', {
  skip: noDcmsign,
}, async () => {
  const cases: Array<[string, number]> = [
    ['nonrepudiation-only', x509.KeyUsageFlags.nonRepudiation],
    ['no-keyusage', 0],
    ['keyagreement', x509.KeyUsageFlags.keyAgreement],
  ];
  for (const [name, usages] of cases) {
    const issued = await issueCertificate(ca, {
      keyType: 'rsa',
      subject: `CN=${name} signer,O=medshield`,
      keyUsages: usages,
    });
    const signer = loadSigner(issued.keyPem, issued.certPem);
    await assert.rejects(
      signDicom(readFileSync(IMAGE), { signer }),
      (e: Error) => e instanceof MedshieldError && /digitalSignature/.test(e.message),
      name,
    );
    const rep = await verifyDicom(dcmsignWith(name, issued.keyPem, issued.certPem), { trust, requireSignature: true });
    assert.equal(rep.valid, false, name);
    assert.match(rep.signatures[0].reason, /digitalSignature/, name);
  }
  // The positive control: same CA, digitalSignature → valid.
  const good = await issueCertificate(ca, { keyType: 'rsa', subject: 'CN=good signer,O=medshield' });
  assert.equal(signerCertificateProblem(pemCertificates(good.certPem)[0]), undefined);
  // (signature validity, not the strict pixel rule: dcmsign keeps the file's TIFF preamble, which strict policies
  // refuse)
  const ok = await verifyDicom(dcmsignWith('good', good.keyPem, good.certPem), { trust });
  assert.equal(ok.valid && ok.signatures[0].valid, true, ok.signatures[0]?.reason);
});

test('CA certificates are refused as image signers: the trust anchor itself, and an intermediate CA whose chain is trusted', {
  skip: noDcmsign,
}, async () => {
  const rootSigner = loadSigner(ca.keyPem, ca.certPem);
  await assert.rejects(signDicom(readFileSync(IMAGE), { signer: rootSigner }), /CA/);
  const asRoot = await verifyDicom(dcmsignWith('root-ca', ca.keyPem, ca.certPem), { trust, requireSignature: true });
  assert.equal(asRoot.valid, false);
  assert.match(asRoot.signatures[0].reason, /is a CA certificate|CA key/);
  // An intermediate CA that also claims digitalSignature: chain valid, still not a signer.
  const inter = await issueCertificate(ca, {
    keyType: 'ec',
    subject: 'CN=intermediate CA,O=medshield',
    ca: true,
    keyUsages: x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.digitalSignature,
  });
  const asInter = await verifyDicom(dcmsignWith('intermediate-ca', inter.keyPem, inter.certPem), {
    trust,
    requireSignature: true,
  });
  assert.equal(asInter.valid, false);
  assert.match(asInter.signatures[0].reason, /is a CA certificate/);
  // A non-CA certificate that may sign certificates (keyCertSign) is a CA key too.
  const kcs = await issueCertificate(ca, {
    keyType: 'ec',
    subject: 'CN=cert signer,O=medshield',
    keyUsages: x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.digitalSignature,
  });
  assert.match(signerCertificateProblem(pemCertificates(kcs.certPem)[0]) ?? '', /keyCertSign/);
});

test("gateway init: the gateway's audit key is issued by a separate audit CA and is never accepted as an image signer", async () => {
  const dir = path.join(tmp, 'gw-ca');
  const r = await initGateway(dir);
  const imageCa = pemCertificates(readFileSync(r.caCert, 'utf8'));
  const auditCa = pemCertificates(readFileSync(r.auditCaCert, 'utf8'));
  assert.notDeepEqual(imageCa[0], auditCa[0]);
  const gwCert = new x509.X509Certificate(readFileSync(r.gatewayCert, 'utf8'));
  assert.equal(gwCert.issuer, new x509.X509Certificate(readFileSync(r.auditCaCert, 'utf8')).subject);
  assert.notEqual(gwCert.issuer, new x509.X509Certificate(readFileSync(r.caCert, 'utf8')).subject);
  const cfg = loadGatewayConfig(r.config);
  assert.deepEqual(cfg.signature.trustedCas, [r.caCert], 'only the image CA is a trust anchor for images');
  assert.equal(cfg.audit.signingCert, r.gatewayCert);

  // The gateway's key is a valid signing key (medshield signs with it) but not an image signer under the image CA.
  const gwSigner = loadSigner(readFileSync(r.gatewayKey), readFileSync(r.gatewayCert));
  const forged = (await signDicom(readFileSync(IMAGE), { signer: gwSigner })).bytes;
  const rep = await verifyDicom(forged, { trust: imageCa, requireSignature: true });
  assert.equal(rep.valid, false);
  assert.match(rep.reason, /not issued by a trusted CA/);
  const f = path.join(tmp, 'signed-by-gateway.dcm');
  writeFileSync(f, forged);
  const c = cli(['dicom', 'verify', '--trust', r.caCert, '--require-signature', f]);
  assert.equal(c.code, 1, c.stdout + c.stderr);
  // The image signer it made verifies under the same policy.
  const img = (
    await signDicom(readFileSync(IMAGE), { signer: loadSigner(readFileSync(r.signerKey), readFileSync(r.signerCert)) })
  ).bytes;
  assert.equal((await verifyDicom(img, { trust: imageCa, requireSignature: true })).valid, true);
});

/** The CLI under a given umask (a child process inherits it). */
function cliUmask(umask: string, args: string[]): CliResult {
  const r = spawnSync(
    'sh',
    ['-c', `umask ${umask} && exec "$0" "$@"`, process.execPath, path.join(ROOT, 'bin', 'medshield.js'), ...args],
    {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, MEDSHIELD_OFFLINE: '1' },
    },
  );
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

test('keys init: private keys 0600, certificates 0644, folder 0700 under umask 000; refuses to overwrite without --force; --force rewrites 0644 keys as 0600', () => {
  const dir = path.join(tmp, 'keys-umask', 'nested');
  const r = cliUmask('000', ['keys', 'init', '--out', dir, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const files = JSON.parse(r.stdout) as Record<string, string>;
  for (const [k, f] of Object.entries(files))
    assert.equal(octal(mode(f)), k.endsWith('Key') ? '0600' : '0644', `${k} ${f}`);
  assert.equal(octal(mode(dir)), '0700');
  assert.equal(octal(mode(path.dirname(dir))), '0700', 'a parent folder it created');

  // Existing files: refused, one line, exit 2, nothing changed.
  const before = readFileSync(files.signerKey, 'utf8');
  const again = cliUmask('000', ['keys', 'init', '--out', dir]);
  assert.ok(isCleanError(again), `${again.code} ${again.stderr}`);
  assert.match(again.stderr, /already exists.*--force/);
  assert.equal(readFileSync(files.signerKey, 'utf8'), before);

  // A key left world-readable (0644, or 0666) by an older tool is rewritten 0600 with --force.
  chmodSync(files.signerKey, 0o644);
  chmodSync(files.caKey, 0o666);
  chmodSync(dir, 0o755);
  const forced = cliUmask('000', ['keys', 'init', '--out', dir, '--force', '--json']);
  assert.equal(forced.code, 0, forced.stderr);
  assert.notEqual(readFileSync(files.signerKey, 'utf8'), before, 'new key written');
  for (const k of ['signerKey', 'caKey', 'ecSignerKey']) assert.equal(octal(mode(files[k])), '0600', k);
  assert.equal(octal(mode(files.caCert)), '0644');
  assert.equal(octal(mode(dir)), '0700', 'a folder holding only the PEM files is tightened again');
  // A shared folder (other files in it) keeps its mode; the keys in it are still 0600.
  const shared = path.join(tmp, 'keys-shared');
  mkdirSync(shared, { mode: 0o755 });
  chmodSync(shared, 0o755);
  writeFileSync(path.join(shared, 'notes.txt'), 'x');
  const s = cliUmask('000', ['keys', 'init', '--out', shared, '--json']);
  assert.equal(s.code, 0, s.stderr);
  assert.equal(octal(mode(shared)), '0755');
  assert.equal(octal(mode(JSON.parse(s.stdout).caKey)), '0600');
});

test('gateway init --force fixes the modes of existing keys, config, keys.json and folders (umask 000)', () => {
  const dir = path.join(tmp, 'gw-force');
  mkdirSync(path.join(dir, 'pki'), { recursive: true });
  // An earlier, permissive installation.
  for (const n of ['gateway-key.pem', 'signer-key.pem', 'ca-key.pem'])
    writeFileSync(path.join(dir, 'pki', n), 'old\n', { mode: 0o644 });
  writeFileSync(path.join(dir, 'gateway.yaml'), 'old: 1\n', { mode: 0o644 });
  writeFileSync(path.join(dir, 'keys.json'), '{}', { mode: 0o666 });
  chmodSync(dir, 0o777);
  chmodSync(path.join(dir, 'pki'), 0o755);
  const refused = cliUmask('000', ['gateway', 'init', '--out', dir]);
  assert.ok(isCleanError(refused), refused.stderr);
  const r = cliUmask('000', ['gateway', 'init', '--out', dir, '--force', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  for (const f of [
    j.signerKey,
    j.gatewayKey,
    path.join(dir, 'pki', 'ca-key.pem'),
    path.join(dir, 'pki', 'audit-ca-key.pem'),
    j.config,
    j.keysFile,
  ])
    assert.equal(octal(mode(f)), '0600', f);
  for (const f of [j.signerCert, j.caCert, j.auditCaCert, j.gatewayCert]) assert.equal(octal(mode(f)), '0644', f);
  for (const d of [dir, path.join(dir, 'pki')]) assert.equal(octal(mode(d)), '0700', d);
  assert.match(readFileSync(j.signerKey, 'utf8'), /BEGIN PRIVATE KEY/);
  assert.equal(loadGatewayConfig(j.config).auth.keysFile, j.keysFile);
});

test('--out into a folder that cannot be written exits 2 with one line naming the path (ENOTDIR, EPERM/EACCES), never a raw errno', () => {
  const file = path.join(tmp, 'regular-file');
  writeFileSync(file, 'x');
  const signed = path.join(tmp, 'to-sign.dcm');
  writeFileSync(signed, readFileSync(IMAGE));
  const keysDir = path.join(tmp, 'k-for-sign');
  assert.equal(cli(['keys', 'init', '--out', keysDir]).code, 0);
  const runs: Array<[string[], RegExp]> = [
    [['keys', 'init', '--out', path.join(file, 'keys')], /ENOTDIR/],
    [['gateway', 'init', '--out', path.join(file, 'gw')], /ENOTDIR/],
    [
      [
        'dicom',
        'sign',
        '--key',
        path.join(keysDir, 'signer-key.pem'),
        '--cert',
        path.join(keysDir, 'signer-cert.pem'),
        signed,
        path.join(file, 'out.dcm'),
      ],
      /ENOTDIR|EEXIST/,
    ], // recursive mkdir of the parent says EEXIST
  ];
  // sysfs refuses new entries even to root (EPERM or EACCES): the case a 0500 folder is for an ordinary user.
  if (existsSync('/sys/kernel')) {
    runs.push([['keys', 'init', '--out', '/sys/medshield-keys'], /EPERM|EACCES|EROFS/]);
    runs.push([
      [
        'dicom',
        'sign',
        '--key',
        path.join(keysDir, 'signer-key.pem'),
        '--cert',
        path.join(keysDir, 'signer-cert.pem'),
        signed,
        '/sys/medshield-out.dcm',
      ],
      /EPERM|EACCES|EROFS/,
    ]);
  }
  for (const [args, code] of runs) {
    const r = cli(args);
    assert.ok(isCleanError(r), `${args.slice(0, 2).join(' ')}: exit ${r.code}: ${r.stderr}`);
    assert.match(r.stderr, code);
    assert.match(r.stderr, /^medshield: error: cannot [a-z ]+'\/[^']*': [a-z ]+ \([A-Z]+\)\n$/);
  }
});

test('fileSystemError maps every file-system code a user can cause to one IO line; other errors are left alone', () => {
  for (const [code, syscall] of [
    ['EACCES', 'open'],
    ['EPERM', 'mkdir'],
    ['EROFS', 'open'],
    ['ENOTDIR', 'mkdir'],
    ['ENOSPC', 'write'],
    ['EISDIR', 'open'],
    ['ENOENT', 'open'],
    ['EEXIST', 'mkdir'],
  ]) {
    const e = Object.assign(new Error(`${code}: raw message\nwith a second line`), { code, syscall, path: '/x/y' });
    const m = fileSystemError(e);
    assert.ok(m instanceof MedshieldError, code);
    assert.equal(m!.code, 'IO');
    assert.ok(
      m!.message.includes(`'/x/y'`) && m!.message.endsWith(`(${code})`) && !m!.message.includes('\n'),
      m!.message,
    );
  }
  assert.equal(fileSystemError(new TypeError('x is undefined')), undefined);
  assert.equal(fileSystemError(Object.assign(new Error('boom'), { code: 'ERR_SOMETHING' })), undefined);
});
