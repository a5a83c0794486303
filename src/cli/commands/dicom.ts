/**
 * `medshield dicom sign|verify|dump` — DICOM PS3.15 digital signatures (src/provenance).
 * Exit codes: verify 0 = all valid under the policy, 1 = any invalid or unsigned-but-required, 2 = bad input.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { readFileSync } from 'node:fs';
import cliProgress from 'cli-progress';
import { action, printJson, withCommon, type CommonOptions } from '../run.js';
import { dumpSignatures, DEFAULT_ALGORITHMS, PROFILE_NAMES, type ProfileName } from '../../api/provenance.js';
import { dicomSignPairs, signDicomFiles, verifyDicomFiles, type DicomSignSpec } from '../../api/dicom.js';

interface SignOpts extends CommonOptions {
  key?: string;
  cert?: string;
  pkcs12?: string;
  chain?: string;
  item?: string;
  profile: ProfileName;
  algorithm: string;
  timestamp?: string;
  inDir?: string;
  outDir?: string;
}
interface VerifyOpts extends CommonOptions {
  trust?: string[];
  chain?: string[];
  requireSignature?: boolean;
  requireProfile?: ProfileName;
  requirePixelCoverage: boolean;
  allowAlgorithms?: string;
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

export default function register(program: Command): void {
  const dicom = program.command('dicom').description('DICOM digital signatures (PS3.15 Annex C): sign, verify, dump');

  withCommon(
    dicom
      .command('sign')
      .description('sign DICOM files, splicing the signature into the original bytes')
      .option('--key <KEY.pem>', 'signer private key (PEM, RSA or EC)')
      .option('--cert <CERT.pem>', 'signer certificate (PEM)')
      .option(
        '--pkcs12 <FILE.p12>',
        'signer key and certificate from PKCS #12 (password from env MEDSHIELD_P12_PASSWORD)',
      )
      .option('--chain <CHAIN.pem>', 'CA certificates the signer certificate must chain to (checked before signing)')
      .addOption(new Option('--profile <name>', 'signature profile').choices(PROFILE_NAMES).default('base'))
      .addOption(
        new Option('--algorithm <mac>', 'MAC algorithm').choices(['sha256', 'sha384', 'sha512']).default('sha256'),
      )
      .option('--timestamp <TOKEN.der>', 'RFC 3161 time-stamp token to embed (must cover the new signature)')
      .option('--item <path>', 'sign a sequence item instead of the main data set, e.g. "(0008,1140)[0]"')
      .option('--in-dir <DIR>', 'sign every file in DIR')
      .option('--out-dir <DIR>', 'write signed files here (with --in-dir)')
      .argument('[files...]', 'IN.dcm OUT.dcm'),
  ).action(
    action(async (files: string[], o: SignOpts) => {
      const spec: DicomSignSpec = {
        ...o,
        files,
        algorithm: o.algorithm as DicomSignSpec['algorithm'],
        pkcs12Password: process.env.MEDSHIELD_P12_PASSWORD,
      };
      const n = dicomSignPairs(spec).length;
      const bar =
        n > 1 && process.stderr.isTTY && !o.json
          ? new cliProgress.SingleBar(
              { format: 'signing [{bar}] {value}/{total} {file}', stream: process.stderr },
              cliProgress.Presets.shades_classic,
            )
          : null;
      bar?.start(n, 0, { file: '' });
      const out = await signDicomFiles(spec, (f) => bar?.increment(1, { file: f }));
      bar?.stop();
      if (o.json) printJson(n === 1 && !o.inDir ? out[0] : out);
      else
        for (const x of out)
          process.stdout.write(
            `${x.file} → ${x.out}: signature ${x.uid}, ${x.covered} ` +
              `elements${x.coversPixelData ? ' incl. pixel data' : ''}\n`,
          );
    }),
  );

  withCommon(
    dicom
      .command('verify')
      .description('verify the digital signatures of DICOM files under a policy')
      .option('--trust <CA.pem>', 'trusted CA certificate(s) (repeatable)', collect)
      .option('--chain <CHAIN.pem>', 'untrusted intermediate CA certificates (repeatable)', collect)
      .option('--require-signature', 'an unsigned file fails')
      .addOption(
        new Option('--require-profile <name>', 'a valid signature must meet this profile').choices(PROFILE_NAMES),
      )
      .option('--no-require-pixel-coverage', 'do not require that a valid signature covers Pixel Data')
      .option('--allow-algorithms <list>', `comma-separated key-MAC pairs (default ${DEFAULT_ALGORITHMS.join(',')})`)
      .argument('<paths...>', 'DICOM files or folders'),
  ).action(
    action(async (paths: string[], o: VerifyOpts) => {
      process.stdout.on('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      });
      const { results, exitCode } = await verifyDicomFiles({
        ...o,
        paths,
        allowAlgorithms: o.allowAlgorithms?.split(','),
      });
      if (o.json) printJson(results);
      else
        for (const r of results) {
          process.stdout.write(
            `${r.file}: ${r.error ? 'error: ' + r.error : (r.valid ? 'VALID' : 'INVALID') + ' — ' + r.reason}\n`,
          );
          for (const s of r.signatures as Array<Record<string, unknown>>)
            process.stdout.write(
              `  ${s.valid ? 'ok ' : 'BAD'} ${s.uid} ${s.algorithm} ${s.profile} ` +
                `by "${s.signer}" at ${s.time}` +
                `${s.coversPixelData ? ', covers pixel data' : ', pixel data NOT covered'}` +
                `${s.valid ? '' : ': ' + s.reason}\n`,
            );
        }
      process.exitCode = exitCode;
    }),
  );

  withCommon(
    dicom.command('dump').description('print the signature structure of a DICOM file').argument('<file>', 'DICOM file'),
    { json: false },
  ).action(
    action(async (file: string) => {
      process.stdout.write(dumpSignatures(readFileSync(file)));
    }),
  );
}
