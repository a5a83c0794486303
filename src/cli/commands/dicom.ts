/**
 * `medshield dicom sign|verify|dump` — DICOM PS3.15 digital signatures (src/provenance).
 * Exit codes: verify 0 = all valid under the policy, 1 = any invalid or unsigned-but-required, 2 = bad input.
 */
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { action, exitOnClosedPipe, printJson, withCommon, type CommonOptions } from '../run.js';
import { addFlags } from '../flags.js';
import { fileBar } from '../progress.js';
import { dumpSignatures, DEFAULT_ALGORITHMS, PROFILE_NAMES } from '../../api/provenance.js';
import * as api from '../../api/dicom.js';

type SignCli = CommonOptions & Omit<api.DicomSignSpec, 'files'>;
type VerifyCli = CommonOptions & Omit<api.DicomVerifySpec, 'paths' | 'allowAlgorithms'> & { allowAlgorithms?: string };

const SIGN_FLAGS = {
  '--key <KEY.pem>': 'signer private key (PEM, RSA or EC)',
  '--cert <CERT.pem>': 'signer certificate (PEM)',
  '--pkcs12 <FILE.p12>': 'signer key and certificate from PKCS #12 (password from env MEDSHIELD_P12_PASSWORD)',
  '--chain <CHAIN.pem>': 'CA certificates the signer certificate must chain to (checked before signing)',
  [`--profile <name>; one of ${PROFILE_NAMES.join('|')}; default base`]: 'signature profile',
  '--algorithm <mac>; one of sha256|sha384|sha512; default sha256': 'MAC algorithm',
  '--timestamp <TOKEN.der>': 'RFC 3161 time-stamp token to embed (must cover the new signature)',
  '--item <path>': 'sign a sequence item instead of the main data set, e.g. "(0008,1140)[0]"',
  '--in-dir <DIR>': 'sign every file in DIR',
  '--out-dir <DIR>': 'write signed files here (with --in-dir)',
};
const VERIFY_FLAGS = {
  '--trust <CA.pem>; repeat': 'trusted CA certificate(s) (repeatable)',
  '--chain <CHAIN.pem>; repeat': 'untrusted intermediate CA certificates (repeatable)',
  '--require-signature': 'an unsigned file fails',
  [`--require-profile <name>; one of ${PROFILE_NAMES.join('|')}`]: 'a valid signature must meet this profile',
  '--no-require-pixel-coverage': 'do not require that a valid signature covers Pixel Data',
  '--allow-algorithms <list>': `comma-separated key-MAC pairs (default ${DEFAULT_ALGORITHMS.join(',')})`,
};

export default function register(program: Command): void {
  const dicom = program.command('dicom').description('DICOM digital signatures (PS3.15 Annex C): sign, verify, dump');
  const sign = dicom.command('sign').description('sign DICOM files, splicing the signature into the original bytes');
  withCommon(addFlags(sign, SIGN_FLAGS).argument('[files...]', 'IN.dcm OUT.dcm')).action(
    action(async (files: string[], o: SignCli) => {
      const spec: api.DicomSignSpec = { ...o, files, pkcs12Password: process.env.MEDSHIELD_P12_PASSWORD };
      const n = api.dicomSignPairs(spec).length;
      const bar = fileBar('signing', n, o.json);
      const out = await api.signDicomFiles(spec, (f) => bar?.increment(1, { file: f }));
      bar?.stop();
      if (o.json) printJson(n === 1 && !o.inDir ? out[0] : out);
      else process.stdout.write(api.dicomSignText(out));
    }),
  );

  const verify = dicom.command('verify').description('verify the digital signatures of DICOM files under a policy');
  withCommon(addFlags(verify, VERIFY_FLAGS).argument('<paths...>', 'DICOM files or folders')).action(
    action(async (paths: string[], o: VerifyCli) => {
      exitOnClosedPipe();
      const allowAlgorithms = o.allowAlgorithms?.split(',');
      const { results, exitCode } = await api.verifyDicomFiles({ ...o, paths, allowAlgorithms });
      if (o.json) printJson(results);
      else process.stdout.write(api.verifyText(results, true));
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
