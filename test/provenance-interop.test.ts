/**
 * Interoperability with DCMTK's dcmsign (Debian package dcmtk) on the 20 real DICOM files:
 * medshield signs (every profile, RSA and ECDSA) → `dcmsign --verify` accepts; dcmsign signs (each
 * profile it offers with RSA, and ECDSA) → medshield verifies; tampered files are rejected by both.
 * Pitfalls handled: `dcmsign --sign KEY CERT IN OUT` argument order; `--add-cert-file CA.pem` to trust
 * the test CA; certificates are backdated a day (notBefore vs signing time); DCMTK rewrites the meta
 * information when it signs, which verification ignores (the meta information is never signed).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  signDicom,
  verifyDicom,
  writeTestPki,
  loadSigner,
  pemCertificates,
  type KeyFiles,
  type ProfileName,
} from '../src/provenance/index.js';
import { findElement, parseDicom, PIXEL_DATA } from '../src/provenance/dicom-parse.js';
import { dicomFiles } from '../bench/signatures/runs.js';
import { cli } from './helpers.js';

const hasDcmsign = spawnSync('dcmsign', ['--version'], { encoding: 'utf8' }).status === 0;
const skip = hasDcmsign ? false : 'dcmsign (Debian package dcmtk) is not installed: DCMTK interop not tested';
const tmp = mkdtempSync(path.join(tmpdir(), 'ms-interop-'));
const files = dicomFiles();
let keys: KeyFiles;
let trust: Buffer[];

before(async () => {
  keys = await writeTestPki(path.join(tmp, 'keys'));
  trust = pemCertificates(readFileSync(keys.caCert, 'utf8'));
});

function dcmsign(args: string[]): { code: number; out: string } {
  const r = spawnSync('dcmsign', args, { encoding: 'utf8' });
  return { code: r.status ?? -1, out: (r.stdout ?? '') + (r.stderr ?? '') };
}

/** Flip one byte in the middle of the pixel data (inside the signed range). */
function tamperPixels(bytes: Buffer): Buffer {
  const p = parseDicom(bytes);
  const px = findElement(p.dataset, PIXEL_DATA)!;
  const frag = px.fragments
    ? px.fragments.filter((f) => f.length > 0).pop()!
    : { valueOffset: px.valueOffset, length: px.length };
  const out = Buffer.from(bytes);
  out[frag.valueOffset + Math.floor(frag.length / 2)] ^= 0x01;
  return out;
}

const cases: Array<{ key: 'rsa' | 'ec'; profile: ProfileName }> = [
  { key: 'rsa', profile: 'base' },
  { key: 'rsa', profile: 'creator' },
  { key: 'rsa', profile: 'authorization' },
  { key: 'ec', profile: 'base' },
];

for (const c of cases) {
  test(`medshield ${c.key.toUpperCase()} ${c.profile} signatures verify with dcmsign; tampered ones are rejected by both`, {
    skip,
  }, async () => {
    const signer =
      c.key === 'ec'
        ? loadSigner(readFileSync(keys.ecSignerKey), readFileSync(keys.ecSignerCert))
        : loadSigner(readFileSync(keys.signerKey), readFileSync(keys.signerCert));
    let n = 0;
    for (const f of files) {
      let signed: Buffer;
      try {
        signed = (await signDicom(readFileSync(f), { signer, profile: c.profile })).bytes;
      } catch {
        assert.notEqual(c.profile, 'base');
        continue;
      }
      n++;
      const out = path.join(tmp, `ms-${c.key}-${c.profile}-${path.basename(f)}`);
      writeFileSync(out, signed);
      const v = dcmsign(['--verify', '--add-cert-file', keys.caCert, out]);
      assert.equal(v.code, 0, `${path.basename(f)}: dcmsign --verify: ${v.out}`);
      assert.match(v.out, /Signature Verification : OK/);
      const bad = tamperPixels(signed);
      writeFileSync(out + '.tampered', bad);
      assert.notEqual(
        dcmsign(['--verify', '--add-cert-file', keys.caCert, out + '.tampered']).code,
        0,
        `${path.basename(f)}: dcmsign accepted a tampered file`,
      );
      assert.equal((await verifyDicom(bad, { trust })).valid, false);
    }
    assert.ok(n >= 18);
  });
}

const dcmtkCases: Array<{ name: string; key: 'rsa' | 'ec'; args: string[] }> = [
  { name: 'RSA base SHA-256', key: 'rsa', args: ['--profile-base', '--mac-sha256'] },
  { name: 'RSA creator SHA-256', key: 'rsa', args: ['--profile-creator', '--mac-sha256'] },
  { name: 'RSA authorization SHA-512', key: 'rsa', args: ['--profile-auth', '--mac-sha512'] },
  { name: 'RSA default (RIPEMD-160)', key: 'rsa', args: [] },
  { name: 'ECDSA SHA-384', key: 'ec', args: ['--mac-sha384'] },
  { name: 'RSA SHA-256 with a signature purpose code', key: 'rsa', args: ['--mac-sha256', '--sig-purpose', '1'] },
];

for (const c of dcmtkCases) {
  test(`dcmsign ${c.name} signatures verify with medshield; tampered ones are rejected by both`, { skip }, async () => {
    let n = 0;
    for (const f of files) {
      const out = path.join(tmp, `dk-${c.name.replace(/\W+/g, '_')}-${path.basename(f)}`);
      const [k, crt] = c.key === 'ec' ? [keys.ecSignerKey, keys.ecSignerCert] : [keys.signerKey, keys.signerCert];
      const s = dcmsign(['--sign', k, crt, ...c.args, f, out]);
      if (s.code !== 0) {
        assert.ok(
          /profile|required|RequiredAttributeMissing/i.test(s.out),
          `${path.basename(f)}: dcmsign --sign failed: ${s.out}`,
        );
        continue;
      }
      n++;
      const signed = readFileSync(out);
      const rep = await verifyDicom(signed, { trust });
      assert.equal(rep.valid, true, `${path.basename(f)}: ${rep.reason}`);
      assert.equal(rep.signatures[0].algorithm.split('-')[0], c.key === 'ec' ? 'ECDSA' : 'RSA');
      const bad = tamperPixels(signed);
      writeFileSync(out + '.tampered', bad);
      assert.equal(
        (await verifyDicom(bad, { trust })).valid,
        false,
        `${path.basename(f)}: medshield accepted a tampered DCMTK file`,
      );
      assert.notEqual(dcmsign(['--verify', '--add-cert-file', keys.caCert, out + '.tampered']).code, 0);
    }
    assert.ok(n >= 18, `dcmsign signed ${n} files`);
  });
}

test('dcmsign without --add-cert-file rejects (exit 101): trust is not implied', { skip }, async () => {
  const signer = loadSigner(readFileSync(keys.signerKey), readFileSync(keys.signerCert));
  const out = path.join(tmp, 'untrusted.dcm');
  writeFileSync(out, (await signDicom(readFileSync(files[0]), { signer })).bytes);
  assert.equal(dcmsign(['--verify', out]).code, 101);
});

const itemCases: Array<[string, string]> = [
  ['CT_small.dcm', '(0010,1002)[0]'],
  ['D_CLUNIE_CT1_RLE_FRAGS.dcm', '(0008,2112)[0]'],
  ['JPGLosslessP14SV1_1s_1f_8b.dcm', '(0008,1110)[0]'],
  ['GH064.dcm', '(0008,1140)[2]'],
  ['CR-ModalitySequenceLUT.dcm', '(0028,3000)[0]'],
];

test('signatures on sequence items (defined and undefined lengths) plus the main data set verify in dcmsign and medshield', {
  skip,
}, async () => {
  const signer = loadSigner(readFileSync(keys.signerKey), readFileSync(keys.signerCert));
  for (const [name, item] of itemCases) {
    const original = readFileSync(path.join(path.dirname(files[0]), name));
    const itemSigned = await signDicom(original, { signer, item });
    const both = await signDicom(itemSigned.bytes, { signer });
    const out = path.join(tmp, `item-${name}`);
    writeFileSync(out, both.bytes);
    const v = dcmsign(['--verify', '--add-cert-file', keys.caCert, out]);
    assert.equal(v.code, 0, `${name}: ${v.out}`);
    assert.equal((v.out.match(/Signature Verification : OK/g) ?? []).length, 2, v.out);
    const rep = await verifyDicom(both.bytes, { trust });
    assert.equal(rep.valid, true, `${name}: ${rep.reason}`);
    assert.deepEqual(rep.signatures.map((s) => s.location).sort(), [item, 'dataset'].sort());
    // Tamper inside the signed item: both reject.
    const p = parseDicom(both.bytes);
    const seq = findElement(p.dataset, parseInt(item.slice(1, 5) + item.slice(6, 10), 16) >>> 0)!;
    const it = seq.items![Number(/\[(\d+)\]/.exec(item)![1])];
    const victim = it.elements.find(
      (e) => !e.items && e.length > 0 && e.tag >>> 16 !== 0x0400 && e.tag >>> 16 !== 0xfffa,
    )!;
    const bad = Buffer.from(both.bytes);
    bad[victim.valueOffset] ^= 0x01;
    writeFileSync(out + '.tampered', bad);
    assert.notEqual(dcmsign(['--verify', '--add-cert-file', keys.caCert, out + '.tampered']).code, 0);
    assert.equal((await verifyDicom(bad, { trust })).valid, false);
  }
});

test('dcmsign --sign-item signatures verify in medshield', { skip }, async () => {
  for (const [name, item] of itemCases) {
    const out = path.join(tmp, `dk-item-${name}`);
    const s = dcmsign([
      '--sign-item',
      keys.signerKey,
      keys.signerCert,
      item,
      '--mac-sha256',
      path.join(path.dirname(files[0]), name),
      out,
    ]);
    assert.equal(s.code, 0, `${name}: ${s.out}`);
    const rep = await verifyDicom(readFileSync(out), { trust, requirePixelCoverage: false });
    assert.equal(rep.signatures.length, 1);
    assert.equal(rep.signatures[0].valid, true, `${name}: ${rep.signatures[0].reason}`);
    assert.equal(rep.signatures[0].location, item);
  }
});

test('medshield appends its signature to a dcmsign-signed file; dcmsign verifies both', { skip }, async () => {
  const signer = loadSigner(readFileSync(keys.ecSignerKey), readFileSync(keys.ecSignerCert));
  for (const name of ['MR_small_implicit.dcm', 'ExplVR_BigEnd.dcm', 'JPGExtended.dcm']) {
    const first = path.join(tmp, `dk-first-${name}`);
    assert.equal(
      dcmsign([
        '--sign',
        keys.signerKey,
        keys.signerCert,
        '--mac-sha256',
        path.join(path.dirname(files[0]), name),
        first,
      ]).code,
      0,
    );
    const both = await signDicom(readFileSync(first), { signer, mac: 'SHA384' });
    const out = path.join(tmp, `both-${name}`);
    writeFileSync(out, both.bytes);
    const v = dcmsign(['--verify', '--add-cert-file', keys.caCert, out]);
    assert.equal(v.code, 0, v.out);
    assert.equal((v.out.match(/Signature Verification : OK/g) ?? []).length, 2, v.out);
    const rep = await verifyDicom(both.bytes, { trust });
    assert.equal(rep.valid, true, rep.reason);
    assert.equal(rep.signatures.length, 2);
  }
});

test('policy on a partial dcmsign signature (--tag): pixel coverage and profile requirements decide', {
  skip,
}, async () => {
  const out = path.join(tmp, 'partial.dcm');
  const tags = ['0008,0016', '0008,0018', '0020,000D', '0020,000E', '0010,0010'];
  assert.equal(
    dcmsign([
      '--sign',
      keys.signerKey,
      keys.signerCert,
      '--mac-sha256',
      ...tags.flatMap((t) => ['--tag', t]),
      path.join(path.dirname(files[0]), 'CT_small.dcm'),
      out,
    ]).code,
    0,
  );
  const bytes = readFileSync(out);
  const strict = await verifyDicom(bytes, { trust });
  assert.equal(strict.signatures[0].valid, true);
  assert.equal(strict.signatures[0].coversPixelData, false);
  assert.equal(strict.signatures[0].profile, 'base');
  assert.equal(strict.valid, false);
  assert.match(strict.reason, /covers the pixel data/);
  assert.ok(strict.unsignedElements.includes('(7FE0,0010)'));
  assert.equal((await verifyDicom(bytes, { trust, requirePixelCoverage: false })).valid, true);
  const creator = await verifyDicom(bytes, { trust, requirePixelCoverage: false, requireProfile: 'creator' });
  assert.equal(creator.valid, false);
  assert.match(creator.reason, /creator profile/);
  const c = cli(['dicom', 'verify', '--trust', keys.caCert, '--no-require-pixel-coverage', out, '--json']);
  assert.equal(c.code, 0, c.stderr);
  assert.equal(cli(['dicom', 'verify', '--trust', keys.caCert, out]).code, 1);
});

test('implicit VR files with private tags (converted by dcmconv +ti): private VRs come from the private dictionary on both sides', {
  skip,
}, async () => {
  const signer = loadSigner(readFileSync(keys.signerKey), readFileSync(keys.signerCert));
  for (const name of ['GH342.dcm', 'CT_small.dcm']) {
    const implicit = path.join(tmp, `implicit-${name}`);
    assert.equal(spawnSync('dcmconv', ['+ti', path.join(path.dirname(files[0]), name), implicit]).status, 0);
    const p = parseDicom(readFileSync(implicit));
    assert.equal(p.ts.explicitVR, false);
    assert.ok(
      p.dataset.some((e) => (e.tag >>> 16) % 2 === 1 && (e.tag & 0xffff) >= 0x1000 && !e.unknownVR),
      'private elements with dictionary VRs',
    );
    const dk = path.join(tmp, `implicit-dk-${name}`);
    assert.equal(dcmsign(['--sign', keys.signerKey, keys.signerCert, '--mac-sha256', implicit, dk]).code, 0);
    const rep = await verifyDicom(readFileSync(dk), { trust });
    assert.equal(rep.valid, true, `${name}: ${rep.reason}`);
    const ms = path.join(tmp, `implicit-ms-${name}`);
    writeFileSync(ms, (await signDicom(readFileSync(implicit), { signer })).bytes);
    assert.equal(dcmsign(['--verify', '--add-cert-file', keys.caCert, ms]).code, 0);
  }
});
