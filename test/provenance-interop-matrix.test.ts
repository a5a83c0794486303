/**
 * Issue 20, acceptance 5 (interop part): DCMTK accepts medshield's signature on every file of
 * ../shared/data/dicom that DCMTK itself can parse, in each transfer syntax `dcmconv` can write it in
 * (+t= same, +te explicit little, +tb explicit big, +ti implicit little, +td deflated), and medshield accepts
 * `dcmsign --sign`'s signatures on them. Compressed files that dcmconv cannot re-encode are also decompressed
 * (dcmdjpeg, dcmdrle, dcmdjpls) and re-encoded Implicit VR, so their sequences and LUTs are checked in Implicit
 * VR too. Counts are printed as one line ("interop matrix: ...") and recorded in docs/provenance.md.
 *
 * Deflated Explicit VR Little Endian is the one syntax medshield does not sign or verify: the spliced signature
 * needs the data set's exact bytes (sign.ts). Those files must be refused with a one-line bad-input error (never
 * a crash, never "valid"), and are counted apart.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { signDicom, verifyDicom, writeTestPki, loadSigner, pemCertificates } from '../src/provenance/index.js';
import { parseDicom } from '../src/provenance/dicom-parse.js';
import { MedshieldError } from '../src/errors.js';
import { dicomFiles } from '../bench/signatures/runs.js';

const tool = (name: string): boolean => spawnSync(name, ['--version'], { encoding: 'utf8' }).status === 0;
const skip = tool('dcmsign') && tool('dcmconv') ? false : 'DCMTK (dcmsign, dcmconv) is not installed: DCMTK interop not tested';

function run(cmd: string, args: string[]): { code: number; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, out: (r.stdout ?? '') + (r.stderr ?? '') };
}

const SYNTAXES: Array<[string, string]> = [['+t=', 'same'], ['+te', 'explicit-le'], ['+tb', 'explicit-be'], ['+ti', 'implicit-le'], ['+td', 'deflated']];
const DECOMPRESSORS = ['dcmdjpeg', 'dcmdrle', 'dcmdjpls'];

test('DCMTK and medshield accept each other\'s signatures on every shared DICOM file in every transfer syntax dcmconv writes', { skip, timeout: 600_000 }, async () => {
  const tmp = mkdtempSync(path.join(tmpdir(), 'ms-interop-matrix-'));
  const keys = await writeTestPki(path.join(tmp, 'keys'));
  const trust = pemCertificates(readFileSync(keys.caCert, 'utf8'));
  const signer = loadSigner(readFileSync(keys.signerKey), readFileSync(keys.signerCert));
  const files = dicomFiles();
  const c = { files: files.length, variants: 0, notWritable: 0, dcmtkVerifiesMedshield: 0, medshieldVerifiesDcmtk: 0, deflatedRefused: 0, implicit: 0, byTs: {} as Record<string, number> };
  const failures: string[] = [];

  const check = async (label: string, file: string): Promise<void> => {
    c.variants++;
    const bytes = readFileSync(file);
    let ts: string;
    try { const p = parseDicom(bytes); ts = p.ts.name; if (!p.ts.explicitVR) c.implicit++; } catch (e) {
      // The only syntax medshield refuses is deflate; it must be a one-line BAD_INPUT, and stay one after dcmsign signs it.
      assert.ok(e instanceof MedshieldError && /deflated/.test(e.message) && !e.message.includes('\n'), `${label}: ${(e as Error).message}`);
      await assert.rejects(signDicom(bytes, { signer }), (err: unknown) => err instanceof MedshieldError);
      const dk = file + '.dcmsign.dcm';
      assert.equal(run('dcmsign', ['--sign', keys.signerKey, keys.signerCert, '--mac-sha256', file, dk]).code, 0);
      await assert.rejects(verifyDicom(readFileSync(dk), { trust }), (err: unknown) => err instanceof MedshieldError);
      c.deflatedRefused++;
      return;
    }
    c.byTs[ts] = (c.byTs[ts] ?? 0) + 1;
    // medshield signs → dcmsign verifies
    const ms = file + '.medshield.dcm';
    writeFileSync(ms, (await signDicom(bytes, { signer })).bytes);
    const v = run('dcmsign', ['--verify', '--add-cert-file', keys.caCert, ms]);
    if (v.code === 0 && /Signature Verification : OK/.test(v.out)) c.dcmtkVerifiesMedshield++;
    else failures.push(`${label} (${ts}): dcmsign rejects medshield's signature: ${v.out.split('\n').filter((l) => /Verification|rror/.test(l)).join(' ')}`);
    // dcmsign signs → medshield verifies
    const dk = file + '.dcmsign.dcm';
    const s = run('dcmsign', ['--sign', keys.signerKey, keys.signerCert, '--mac-sha256', file, dk]);
    assert.equal(s.code, 0, `${label}: dcmsign --sign: ${s.out}`);
    const rep = await verifyDicom(readFileSync(dk), { trust, requireSignature: true });
    if (rep.valid) c.medshieldVerifiesDcmtk++;
    else failures.push(`${label} (${ts}): medshield rejects dcmsign's signature: ${rep.reason}`);
  };

  for (const f of files) {
    const name = path.basename(f, '.dcm');
    // DCMTK must parse the original for it to count (all 20 do).
    assert.equal(run('dcmdump', ['-q', f]).code, 0, `${name}: dcmdump cannot parse it`);
    let compressedOnly = false;
    for (const [opt, label] of SYNTAXES) {
      const out = path.join(tmp, `${name}.${label}.dcm`);
      if (run('dcmconv', [opt, f, out]).code !== 0 || !existsSync(out)) { c.notWritable++; if (label !== 'same') compressedOnly = true; continue; }
      await check(`${name} ${opt}`, out);
    }
    if (!compressedOnly) continue;
    // Decompress with the DCMTK codec that fits, then Implicit VR: the same data set seen as DCMTK reads it in Implicit VR.
    for (const d of DECOMPRESSORS) {
      const raw = path.join(tmp, `${name}.${d}.dcm`);
      if (run(d, [f, raw]).code !== 0) continue;
      const im = path.join(tmp, `${name}.${d}.implicit-le.dcm`);
      if (run('dcmconv', ['+ti', raw, im]).code === 0) await check(`${name} ${d} +ti`, im);
      break;
    }
  }
  console.log(`interop matrix: ${c.files} files, ${c.variants} variants (${c.implicit} Implicit VR), ${c.notWritable} (file, syntax) pairs dcmconv cannot write; ` +
    `dcmsign verified medshield's signature on ${c.dcmtkVerifiesMedshield}, medshield verified dcmsign's on ${c.medshieldVerifiesDcmtk}, of ${c.variants - c.deflatedRefused}; ` +
    `${c.deflatedRefused} deflated variants refused by medshield (one-line error); by syntax ${JSON.stringify(c.byTs)}`);
  assert.deepEqual(failures, []);
  assert.equal(c.dcmtkVerifiesMedshield, c.variants - c.deflatedRefused);
  assert.equal(c.medshieldVerifiesDcmtk, c.variants - c.deflatedRefused);
  assert.ok(c.variants - c.deflatedRefused >= 55, `only ${c.variants - c.deflatedRefused} variants checked`);
  assert.ok(c.implicit >= 20, `only ${c.implicit} Implicit VR variants`);
});
