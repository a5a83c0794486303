/**
 * `medshield dicom sign|verify|dump` — DICOM PS3.15 digital signatures (src/provenance).
 * Exit codes: verify 0 = all valid under the policy, 1 = any invalid or unsigned-but-required, 2 = bad input.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { readFileSync, writeFileSync, readdirSync, statSync, mkdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import cliProgress from 'cli-progress';
import { action, printJson, withCommon, type CommonOptions } from '../run.js';
import { badArgument, badInput, MedshieldError, oneLine } from '../../errors.js';
import { signDicom, verifyDicom, loadSigner, loadSignerPkcs12, pemCertificates, dumpSignatures, DEFAULT_ALGORITHMS, PROFILE_NAMES, type ProfileName, type MacAlgorithm, type FileReport , validateChain, timestampCoversSignature } from '../../api/provenance.js';

interface SignOpts extends CommonOptions { key?: string; cert?: string; pkcs12?: string; chain?: string; item?: string; profile: ProfileName; algorithm: string; timestamp?: string; inDir?: string; outDir?: string }
interface VerifyOpts extends CommonOptions { trust?: string[]; chain?: string[]; requireSignature?: boolean; requireProfile?: ProfileName; requirePixelCoverage: boolean; allowAlgorithms?: string }

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

function listFiles(p: string): string[] {
  const st = statSync(p);
  if (!st.isDirectory()) return [p];
  return readdirSync(p).sort().flatMap((n) => listFiles(path.join(p, n)));
}

function sha(b: Uint8Array): string { return createHash('sha256').update(b).digest('hex'); }

export default function register(program: Command): void {
  const dicom = program.command('dicom').description('DICOM digital signatures (PS3.15 Annex C): sign, verify, dump');

  withCommon(dicom.command('sign').description('sign DICOM files, splicing the signature into the original bytes')
    .option('--key <KEY.pem>', 'signer private key (PEM, RSA or EC)')
    .option('--cert <CERT.pem>', 'signer certificate (PEM)')
    .option('--pkcs12 <FILE.p12>', 'signer key and certificate from PKCS #12 (password from env MEDSHIELD_P12_PASSWORD)')
    .option('--chain <CHAIN.pem>', 'CA certificates the signer certificate must chain to (checked before signing)')
    .addOption(new Option('--profile <name>', 'signature profile').choices(PROFILE_NAMES).default('base'))
    .addOption(new Option('--algorithm <mac>', 'MAC algorithm').choices(['sha256', 'sha384', 'sha512']).default('sha256'))
    .option('--timestamp <TOKEN.der>', 'RFC 3161 time-stamp token to embed (must cover the new signature)')
    .option('--item <path>', 'sign a sequence item instead of the main data set, e.g. "(0008,1140)[0]"')
    .option('--in-dir <DIR>', 'sign every file in DIR')
    .option('--out-dir <DIR>', 'write signed files here (with --in-dir)')
    .argument('[files...]', 'IN.dcm OUT.dcm'))
    .action(action(async (files: string[], o: SignOpts) => {
      let signer;
      if (o.pkcs12) {
        if (o.key || o.cert) throw badArgument('give either --pkcs12 or --key/--cert, not both');
        signer = await loadSignerPkcs12(readFileSync(o.pkcs12), process.env.MEDSHIELD_P12_PASSWORD ?? '');
      } else {
        if (!o.key || !o.cert) throw badArgument('dicom sign needs --key and --cert (or --pkcs12)');
        signer = loadSigner(readFileSync(o.key), readFileSync(o.cert));
      }
      if (o.chain) {
        const chain = pemCertificates(readFileSync(o.chain, 'utf8'), '--chain file');
        const res = await validateChain(signer.certDer, chain, [], new Date());
        if (!res.trusted) throw badInput(`signer certificate does not chain to --chain: ${res.reason}`);
      }
      const token = o.timestamp ? readFileSync(o.timestamp) : undefined;
      const mac = o.algorithm.toUpperCase() as MacAlgorithm;
      let pairs: Array<[string, string]>;
      if (o.inDir || o.outDir) {
        if (!o.inDir || !o.outDir) throw badArgument('--in-dir and --out-dir go together');
        if (files.length) throw badArgument('give either --in-dir/--out-dir or IN.dcm OUT.dcm, not both');
        pairs = listFiles(o.inDir).map((f) => [f, path.join(o.outDir!, path.relative(o.inDir!, f))]);
      } else {
        if (files.length !== 2) throw badArgument('dicom sign needs IN.dcm OUT.dcm (or --in-dir/--out-dir)');
        pairs = [[files[0], files[1]]];
      }
      const bar = pairs.length > 1 && process.stderr.isTTY && !o.json ? new cliProgress.SingleBar({ format: 'signing [{bar}] {value}/{total} {file}', stream: process.stderr }, cliProgress.Presets.shades_classic) : null;
      bar?.start(pairs.length, 0, { file: '' });
      const out: unknown[] = [];
      for (const [inF, outF] of pairs) {
        const r = await signDicom(readFileSync(inF), {
          signer, profile: o.profile, mac, item: o.item,
          timestamp: token ? (sig: Buffer) => {
            if (!timestampCoversSignature(token, sig)) throw badInput(`--timestamp ${o.timestamp} does not cover this signature (an RFC 3161 token must be requested for the signature bytes after signing)`);
            return token;
          } : undefined,
        }).catch((e) => { throw e instanceof MedshieldError ? new MedshieldError(e.code, `${inF}: ${e.message}`) : e; });
        mkdirSync(path.dirname(path.resolve(outF)), { recursive: true });
        writeFileSync(outF, r.bytes);
        out.push({ file: inF, out: outF, uid: r.uid, profile: o.profile, algorithm: `${signer.keyAlgorithm}-${mac}`, signer: signer.cert.subject.split('\n').join(', '), coversPixelData: r.coversPixelData, covered: r.covered.length, sha256: sha(r.bytes) });
        bar?.increment(1, { file: path.basename(inF) });
      }
      bar?.stop();
      if (o.json) printJson(pairs.length === 1 && !o.inDir ? out[0] : out);
      else for (const x of out as Array<{ file: string; out: string; uid: string; covered: number; coversPixelData: boolean }>) process.stdout.write(`${x.file} → ${x.out}: signature ${x.uid}, ${x.covered} elements${x.coversPixelData ? ' incl. pixel data' : ''}\n`);
    }));

  withCommon(dicom.command('verify').description('verify the digital signatures of DICOM files under a policy')
    .option('--trust <CA.pem>', 'trusted CA certificate(s) (repeatable)', collect)
    .option('--chain <CHAIN.pem>', 'untrusted intermediate CA certificates (repeatable)', collect)
    .option('--require-signature', 'an unsigned file fails')
    .addOption(new Option('--require-profile <name>', 'a valid signature must meet this profile').choices(PROFILE_NAMES))
    .option('--no-require-pixel-coverage', 'do not require that a valid signature covers Pixel Data')
    .option('--allow-algorithms <list>', `comma-separated key-MAC pairs (default ${DEFAULT_ALGORITHMS.join(',')})`)
    .argument('<paths...>', 'DICOM files or folders'))
    .action(action(async (paths: string[], o: VerifyOpts) => {
      process.stdout.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0); });
      const trust = (o.trust ?? []).flatMap((f) => pemCertificates(readFileSync(f, 'utf8'), `--trust ${f}`));
      const intermediates = (o.chain ?? []).flatMap((f) => pemCertificates(readFileSync(f, 'utf8'), `--chain ${f}`));
      for (const p of paths) if (!existsSync(p)) throw badInput(`no such file or folder: ${p}`);
      const files = paths.flatMap(listFiles);
      const policy = {
        trust, intermediates, requireSignature: !!o.requireSignature, requireProfile: o.requireProfile, requirePixelCoverage: o.requirePixelCoverage,
        allowedAlgorithms: o.allowAlgorithms ? o.allowAlgorithms.split(',').map((s) => s.trim().toUpperCase()) : undefined,
      };
      const results: Array<Record<string, unknown>> = [];
      let anyInvalid = false;
      let anyBad = false;
      for (const f of files) {
        let rep: FileReport;
        try { rep = await verifyDicom(readFileSync(f), policy); } catch (e) {
          if (files.length === 1) throw e;
          anyBad = true;
          results.push({ file: f, signed: false, valid: false, error: oneLine(e), signatures: [] });
          continue;
        }
        if (!rep.valid) anyInvalid = true;
        results.push({
          file: f, signed: rep.signed, valid: rep.valid, reason: rep.reason, unsignedElements: rep.unsignedElements,
          signatures: rep.signatures.map((s) => ({ uid: s.uid, profile: s.profile, algorithm: s.algorithm, signer: s.signer, time: s.time, coversPixelData: s.coversPixelData, valid: s.valid, reason: s.reason, location: s.location, coveredElements: s.covered.length, ...(s.timestamp ? { timestamp: s.timestamp } : {}) })),
        });
      }
      if (o.json) printJson(results);
      else for (const r of results) {
        process.stdout.write(`${r.file}: ${r.error ? 'error: ' + r.error : (r.valid ? 'VALID' : 'INVALID') + ' — ' + r.reason}\n`);
        for (const s of (r.signatures as Array<Record<string, unknown>>)) process.stdout.write(`  ${s.valid ? 'ok ' : 'BAD'} ${s.uid} ${s.algorithm} ${s.profile} by "${s.signer}" at ${s.time}${s.coversPixelData ? ', covers pixel data' : ', pixel data NOT covered'}${s.valid ? '' : ': ' + s.reason}\n`);
      }
      process.exitCode = anyBad ? 2 : anyInvalid ? 1 : 0;
    }));

  withCommon(dicom.command('dump').description('print the signature structure of a DICOM file').argument('<file>', 'DICOM file'), { json: false })
    .action(action(async (file: string) => { process.stdout.write(dumpSignatures(readFileSync(file))); }));
}
