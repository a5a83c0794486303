/**
 * `medshield sign` / `medshield verify` — signed PNG and JPEG images (src/provenance/image-signature.ts):
 * a detached JWS over every other byte of the file, in a PNG "mdSG" chunk or a JPEG APP15 segment.
 * Same policy flags and JSON as `medshield dicom verify`; exit 0 all valid, 1 any invalid, 2 bad input.
 */
import type { Command } from 'commander';
import { readFileSync, writeFileSync } from 'node:fs';
import { action, exitOnClosedPipe, printJson, withCommon, type CommonOptions } from '../run.js';
import { addFlags } from '../flags.js';
import { loadSigner, signImage } from '../../api/provenance.js';
import { verifyImageFiles, verifyText } from '../../api/dicom.js';

type SignCli = CommonOptions & { key: string; cert: string; algorithm: string };
type VerifyCli = CommonOptions & { trust?: string[]; requireSignature?: boolean; allowAlgorithms?: string };

const SIGN_FLAGS = {
  '--key <KEY.pem>; required': 'signer private key (PEM, RSA or EC)',
  '--cert <CERT.pem>; required': 'signer certificate (PEM)',
  '--algorithm <hash>; one of sha256|sha384|sha512; default sha256': 'hash',
};
const VERIFY_FLAGS = {
  '--trust <CA.pem>; repeat': 'trusted CA certificate(s) (repeatable)',
  '--require-signature': 'an unsigned file fails',
  '--allow-algorithms <list>': 'comma-separated key-hash pairs, e.g. RSA-SHA256,ECDSA-SHA256',
};

export default function register(program: Command): void {
  const sign = program
    .command('sign')
    .description('sign a PNG or JPEG image (embedded detached JWS over the whole file)');
  withCommon(addFlags(sign, SIGN_FLAGS).argument('<in>', 'input PNG/JPEG').argument('<out>', 'signed output')).action(
    action(async (inF: string, outF: string, o: SignCli) => {
      const signer = loadSigner(readFileSync(o.key), readFileSync(o.cert));
      const r = signImage(readFileSync(inF), signer, o.algorithm.toUpperCase() as 'SHA256');
      writeFileSync(outF, r.bytes);
      const algorithm = `${signer.keyAlgorithm}-${o.algorithm.toUpperCase()}`;
      if (o.json) printJson({ file: inF, out: outF, uid: r.uid, algorithm });
      else process.stdout.write(`${inF} → ${outF}: signature ${r.uid}\n`);
    }),
  );

  const about =
    'verify signed PNG/JPEG images under a policy, or an evidence bundle (.zip) against its signed manifest';
  const verify = program.command('verify').description(about);
  withCommon(addFlags(verify, VERIFY_FLAGS).argument('<paths...>', 'images or folders')).action(
    action(async (paths: string[], o: VerifyCli) => {
      exitOnClosedPipe();
      const allowAlgorithms = o.allowAlgorithms?.split(',');
      const { results: rows, exitCode } = await verifyImageFiles({
        paths,
        trust: o.trust,
        requireSignature: o.requireSignature,
        allowAlgorithms,
      });
      if (o.json) printJson(rows);
      else process.stdout.write(verifyText(rows));
      process.exitCode = exitCode;
    }),
  );
}
