/**
 * Issue 20, acceptance 5 (interop part): DCMTK accepts medshield's signature on every file of
 * ../shared/data/dicom that DCMTK itself can parse, in each transfer syntax `dcmconv` can write it in
 * (+t= same, +te explicit little, +tb explicit big, +ti implicit little, +td deflated), and medshield accepts
 * `dcmsign --sign`'s signatures on them. Compressed files that dcmconv cannot re-encode are also decompressed
 * (dcmdjpeg, dcmdrle, dcmdjpls) and re-encoded Implicit VR, so their sequences and LUTs are checked in Implicit
 * VR too. Counts are printed as one line ("interop matrix: ...") and recorded in docs/provenance.md.
 *
 * Deflated Explicit VR Little Endian files are signed and verified on their inflated data set (deflate.ts);
 * a second test checks that bytes after the deflate stream, or a changed compressed byte, never verify.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { signDicom, verifyDicom, writeTestPki, loadSigner, pemCertificates } from '../src/provenance/index.js';
import { parseDicom, findElement, PIXEL_DATA } from '../src/provenance/dicom-parse.js';
import { inflatedView, splitDeflated, joinDeflated } from '../src/provenance/deflate.js';
import { MedshieldError } from '../src/errors.js';
import { dicomFiles } from '../bench/signatures/runs.js';

const tool = (name: string): boolean => spawnSync(name, ['--version'], { encoding: 'utf8' }).status === 0;
const skip =
  tool('dcmsign') && tool('dcmconv') ? false : 'DCMTK (dcmsign, dcmconv) is not installed: DCMTK interop not tested';

function run(cmd: string, args: string[]): { code: number; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, out: (r.stdout ?? '') + (r.stderr ?? '') };
}

const SYNTAXES: Array<[string, string]> = [
  ['+t=', 'same'],
  ['+te', 'explicit-le'],
  ['+tb', 'explicit-be'],
  ['+ti', 'implicit-le'],
  ['+td', 'deflated'],
];
const DECOMPRESSORS = ['dcmdjpeg', 'dcmdrle', 'dcmdjpls'];

test("DCMTK and medshield accept each other's signatures on every shared DICOM file in every transfer syntax dcmconv writes", {
  skip,
  timeout: 600_000,
}, async () => {
  const tmp = mkdtempSync(path.join(tmpdir(), 'ms-interop-matrix-'));
  const keys = await writeTestPki(path.join(tmp, 'keys'));
  const trust = pemCertificates(readFileSync(keys.caCert, 'utf8'));
  const signer = loadSigner(readFileSync(keys.signerKey), readFileSync(keys.signerCert));
  const files = dicomFiles();
  const c = {
    files: files.length,
    variants: 0,
    notWritable: 0,
    dcmtkVerifiesMedshield: 0,
    medshieldVerifiesDcmtk: 0,
    implicit: 0,
    byTs: {} as Record<string, number>,
  };
  const failures: string[] = [];

  const check = async (label: string, file: string): Promise<void> => {
    c.variants++;
    const bytes = readFileSync(file);
    const p = parseDicom(inflatedView(bytes));
    const ts = splitDeflated(bytes) ? 'Deflated Explicit VR Little Endian' : p.ts.name;
    if (!p.ts.explicitVR) c.implicit++;
    c.byTs[ts] = (c.byTs[ts] ?? 0) + 1;
    // medshield signs → dcmsign verifies
    const ms = file + '.medshield.dcm';
    writeFileSync(ms, (await signDicom(bytes, { signer })).bytes);
    const v = run('dcmsign', ['--verify', '--add-cert-file', keys.caCert, ms]);
    if (v.code === 0 && /Signature Verification : OK/.test(v.out)) c.dcmtkVerifiesMedshield++;
    else
      failures.push(
        `${label} (${ts}): dcmsign rejects medshield's signature: ${v.out
          .split('\n')
          .filter((l) => /Verification|rror/.test(l))
          .join(' ')}`,
      );
    // dcmsign signs → medshield verifies
    const dk = file + '.dcmsign.dcm';
    const s = run('dcmsign', ['--sign', keys.signerKey, keys.signerCert, '--mac-sha256', file, dk]);
    assert.equal(s.code, 0, `${label}: dcmsign --sign: ${s.out}`);
    // The signature itself (not the strict pixel rule: dcmsign keeps a TIFF preamble or non-zero trailing padding,
    // bytes no signature covers, which the strict policy refuses by design — see docs/provenance.md).
    const rep = await verifyDicom(readFileSync(dk), { trust });
    if (rep.valid && rep.signatures.length > 0 && rep.signatures.every((x) => x.valid)) c.medshieldVerifiesDcmtk++;
    else failures.push(`${label} (${ts}): medshield rejects dcmsign's signature: ${rep.reason}`);
  };

  for (const f of files) {
    const name = path.basename(f, '.dcm');
    // DCMTK must parse the original for it to count (all 20 do).
    assert.equal(run('dcmdump', ['-q', f]).code, 0, `${name}: dcmdump cannot parse it`);
    let compressedOnly = false;
    for (const [opt, label] of SYNTAXES) {
      const out = path.join(tmp, `${name}.${label}.dcm`);
      if (run('dcmconv', [opt, f, out]).code !== 0 || !existsSync(out)) {
        c.notWritable++;
        if (label !== 'same') compressedOnly = true;
        continue;
      }
      await check(`${name} ${opt}`, out);
    }
    if (!compressedOnly) continue;
    // Decompress with the DCMTK codec that fits, then Implicit VR: the same data set seen as DCMTK reads it in Implicit
    // VR.
    for (const d of DECOMPRESSORS) {
      const raw = path.join(tmp, `${name}.${d}.dcm`);
      if (run(d, [f, raw]).code !== 0) continue;
      const im = path.join(tmp, `${name}.${d}.implicit-le.dcm`);
      if (run('dcmconv', ['+ti', raw, im]).code === 0) await check(`${name} ${d} +ti`, im);
      break;
    }
  }
  console.log(
    `interop matrix: ${c.files} files, ${c.variants} variants (${c.implicit} ` +
      `Implicit VR), ${c.notWritable} (file, syntax) pairs dcmconv cannot write; ` +
      `dcmsign verified medshield's signature on ${c.dcmtkVerifiesMedshield}, ` +
      `medshield verified dcmsign's on ${c.medshieldVerifiesDcmtk}, of ${c.variants}; ` +
      `by syntax ${JSON.stringify(c.byTs)}`,
  );
  assert.deepEqual(failures, []);
  assert.equal(c.dcmtkVerifiesMedshield, c.variants);
  assert.equal(c.medshieldVerifiesDcmtk, c.variants);
  assert.ok(c.variants >= 65, `only ${c.variants} variants checked`);
  assert.ok(c.implicit >= 20, `only ${c.implicit} Implicit VR variants`);
  assert.ok((c.byTs['Deflated Explicit VR Little Endian'] ?? 0) >= 10, 'deflated variants');
});

test('deflated files: bytes after the deflate stream, a changed compressed byte, or changed inflated pixels never verify', {
  skip,
}, async () => {
  const tmp = mkdtempSync(path.join(tmpdir(), 'ms-interop-deflate-'));
  const keys = await writeTestPki(path.join(tmp, 'keys'));
  const trust = pemCertificates(readFileSync(keys.caCert, 'utf8'));
  const signer = loadSigner(readFileSync(keys.ecSignerKey), readFileSync(keys.ecSignerCert));
  const src = path.join(tmp, 'ct.deflated.dcm');
  assert.equal(run('dcmconv', ['+td', dicomFiles().find((f) => f.endsWith('CT_small.dcm'))!, src]).code, 0);
  const signed = (await signDicom(readFileSync(src), { signer })).bytes;
  assert.equal((await verifyDicom(signed, { trust, requireSignature: true })).valid, true);
  // Trailing data after the stream (beyond one 00 pad byte) is refused as malformed.
  await assert.rejects(
    verifyDicom(Buffer.concat([signed, Buffer.from('PNG')]), { trust }),
    (e: unknown) => e instanceof MedshieldError && /follow the end of the deflated data set/.test(e.message),
  );
  assert.equal(
    (await verifyDicom(Buffer.concat([signed, Buffer.from([0])]), { trust, requireSignature: true })).valid,
    true,
    'one 00 pad byte',
  );
  // A changed compressed byte: either it no longer inflates (bad input) or the signature fails.
  let refused = 0;
  for (let i = 0; i < 40; i++) {
    const bad = Buffer.from(signed);
    const at = signed.length - 1 - Math.floor((((i * 7919) % 997) / 997) * (signed.length - 400));
    bad[at] ^= 1 << (i % 8);
    try {
      if (!(await verifyDicom(bad, { trust, requireSignature: true })).valid) refused++;
    } catch (e) {
      assert.ok(e instanceof MedshieldError, String(e));
      refused++;
    }
  }
  assert.equal(refused, 40);
  // A pixel changed in the inflated data set and deflated again (a valid stream): the signature fails, in both tools.
  const parts = splitDeflated(signed)!;
  const view = parseDicom(inflatedView(signed));
  const px = findElement(view.dataset, PIXEL_DATA)!;
  const ds = Buffer.from(parts.dataset);
  ds[px.valueOffset - (view.bytes.length - ds.length) + 100] ^= 1;
  const tampered = joinDeflated(parts.head, ds);
  assert.equal((await verifyDicom(tampered, { trust })).valid, false);
  const f = path.join(tmp, 'tampered.dcm');
  writeFileSync(f, tampered);
  assert.notEqual(run('dcmsign', ['--verify', '--add-cert-file', keys.caCert, f]).code, 0);
});
