/**
 * Sign and verify throughput on the 20 real DICOM files, medshield vs DCMTK's dcmsign in the same run
 * (RSA-2048, SHA-256 MAC). dcmsign signs or verifies one file per process, so it is timed as a loop of
 * processes; medshield is timed both as one CLI process over the folder (--in-dir / folder verify) and
 * in-process through the library. The folder holds `--copies` copies of the 20 files (default 5, i.e. 100
 * files) so the CLI's one-off start-up is amortised as it is in real batch use. Ratios > 1 mean medshield is faster.
 *   node dist/bench/signatures/throughput.js [--rounds 3] [--copies 5]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../src/version.js';
import { signDicom, verifyDicom, writeTestPki, loadSigner, pemCertificates } from '../../src/provenance/index.js';
import { dicomFiles } from './runs.js';

const arg = (name: string, d: number): number => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const rounds = arg('--rounds', 3);
const copies = arg('--copies', 5);
const tmp = mkdtempSync(path.join(tmpdir(), 'ms-sig-bench-'));
const keys = await writeTestPki(path.join(tmp, 'keys'));
const files = dicomFiles();
const hasDcmsign = spawnSync('dcmsign', ['--version']).status === 0;
const bin = path.join(PACKAGE_ROOT, 'bin', 'medshield.js');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
async function time(fn: () => Promise<void> | void): Promise<number> {
  const ts: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    await fn();
    ts.push((performance.now() - t0) / 1000);
  }
  return median(ts);
}
function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.slice(0, 3).join(' ')} failed: ${r.stderr}`);
}

const signer = loadSigner(readFileSync(keys.signerKey), readFileSync(keys.signerCert));
const trust = pemCertificates(readFileSync(keys.caCert, 'utf8'));
const inDir = path.join(tmp, 'in');
mkdirSync(inDir);
const batch: string[] = [];
for (let c = 0; c < copies; c++)
  for (const f of files) {
    const dst = path.join(inDir, `${c}-${path.basename(f)}`);
    writeFileSync(dst, readFileSync(f));
    batch.push(dst);
  }
const mb = batch.reduce((s, f) => s + statSync(f).size, 0) / 1048576;
const signedLib: Buffer[] = [];

const results: Record<string, number> = {};
results.libSign = await time(async () => {
  signedLib.length = 0;
  for (const f of batch) signedLib.push((await signDicom(readFileSync(f), { signer })).bytes);
});
results.libVerify = await time(async () => {
  for (const b of signedLib) if (!(await verifyDicom(b, { trust })).valid) throw new Error('verify failed');
});
const cliOut = path.join(tmp, 'cli-out');
results.cliSign = await time(() =>
  run(process.execPath, [
    bin,
    'dicom',
    'sign',
    '--key',
    keys.signerKey,
    '--cert',
    keys.signerCert,
    '--in-dir',
    inDir,
    '--out-dir',
    cliOut,
  ]),
);
results.cliVerify = await time(() => run(process.execPath, [bin, 'dicom', 'verify', '--trust', keys.caCert, cliOut]));
if (hasDcmsign) {
  const dk = path.join(tmp, 'dk');
  mkdirSync(dk);
  results.dcmsignSign = await time(() => {
    for (const f of batch)
      run('dcmsign', ['--sign', keys.signerKey, keys.signerCert, '--mac-sha256', f, path.join(dk, path.basename(f))]);
  });
  results.dcmsignVerify = await time(() => {
    for (const f of batch)
      run('dcmsign', ['--verify', '--add-cert-file', keys.caCert, path.join(dk, path.basename(f))]);
  });
}
const n = batch.length;
const row = (name: string, s: number) =>
  `| ${name.padEnd(34)} | ${s.toFixed(3).padStart(7)} s | ` +
  `${(n / s).toFixed(1).padStart(7)} files/s | ${(mb / s).toFixed(1).padStart(6)} MB/s |`;
console.log(
  `${n} files (${copies} × the ${files.length} real files), ` +
    `${mb.toFixed(2)} MB, median of ${rounds} rounds, RSA-2048 + SHA-256`,
);
console.log('| run | time | files/s | MB/s |\n|---|---|---|---|');
console.log(row('medshield library sign', results.libSign));
console.log(row('medshield library verify', results.libVerify));
console.log(row('medshield CLI sign (1 process)', results.cliSign));
console.log(row('medshield CLI verify (1 process)', results.cliVerify));
if (hasDcmsign) {
  console.log(row('dcmsign sign (1 process per file)', results.dcmsignSign));
  console.log(row('dcmsign verify (1 process per file)', results.dcmsignVerify));
  console.log(
    `ratios (dcmsign time / medshield time): CLI sign ${(results.dcmsignSign / results.cliSign).toFixed(2)}` +
      `×, CLI verify ${(results.dcmsignVerify / results.cliVerify).toFixed(2)}` +
      `×, library sign ${(results.dcmsignSign / results.libSign).toFixed(2)}×, ` +
      `library verify ${(results.dcmsignVerify / results.libVerify).toFixed(2)}×`,
  );
} else console.log('dcmsign not installed: no ratios');
