/**
 * `medshield sign` / `medshield verify` — signed PNG and JPEG images (src/provenance/image-signature.ts):
 * a detached JWS over every other byte of the file, in a PNG "mdSG" chunk or a JPEG APP15 segment.
 * Same policy flags and JSON as `medshield dicom verify`; exit 0 all valid, 1 any invalid, 2 bad input.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { readFileSync, writeFileSync } from 'node:fs';
import { action, printJson, withCommon, type CommonOptions } from '../run.js';
import { loadSigner, signImage } from '../../api/provenance.js';
import { verifyImageFiles } from '../../api/dicom.js';

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];
export default function register(program: Command): void {
  withCommon(
    program
      .command('sign')
      .description('sign a PNG or JPEG image (embedded detached JWS over the whole file)')
      .requiredOption('--key <KEY.pem>', 'signer private key (PEM, RSA or EC)')
      .requiredOption('--cert <CERT.pem>', 'signer certificate (PEM)')
      .addOption(new Option('--algorithm <hash>', 'hash').choices(['sha256', 'sha384', 'sha512']).default('sha256'))
      .argument('<in>', 'input PNG/JPEG')
      .argument('<out>', 'signed output'),
  ).action(
    action(async (inF: string, outF: string, o: CommonOptions & { key: string; cert: string; algorithm: string }) => {
      const signer = loadSigner(readFileSync(o.key), readFileSync(o.cert));
      const r = signImage(readFileSync(inF), signer, o.algorithm.toUpperCase() as 'SHA256');
      writeFileSync(outF, r.bytes);
      if (o.json)
        printJson({
          file: inF,
          out: outF,
          uid: r.uid,
          algorithm: `${signer.keyAlgorithm}-${o.algorithm.toUpperCase()}`,
        });
      else process.stdout.write(`${inF} → ${outF}: signature ${r.uid}\n`);
    }),
  );

  withCommon(
    program
      .command('verify')
      .description(
        'verify signed PNG/JPEG images under a policy, or an evidence bundle (.zip) against its signed manifest',
      )
      .option('--trust <CA.pem>', 'trusted CA certificate(s) (repeatable)', collect)
      .option('--require-signature', 'an unsigned file fails')
      .option('--allow-algorithms <list>', 'comma-separated key-hash pairs, e.g. RSA-SHA256,ECDSA-SHA256')
      .argument('<paths...>', 'images or folders'),
  ).action(
    action(
      async (
        paths: string[],
        o: CommonOptions & { trust?: string[]; requireSignature?: boolean; allowAlgorithms?: string },
      ) => {
        process.stdout.on('error', (e: NodeJS.ErrnoException) => {
          if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
        });
        const { results: rows, exitCode } = await verifyImageFiles({
          paths,
          trust: o.trust,
          requireSignature: o.requireSignature,
          allowAlgorithms: o.allowAlgorithms?.split(','),
        });
        if (o.json) printJson(rows);
        else
          for (const r of rows)
            process.stdout.write(
              `${r.file}: ${r.error ? 'error: ' + r.error : (r.valid ? 'VALID' : 'INVALID') + ' — ' + r.reason}\n`,
            );
        process.exitCode = exitCode;
      },
    ),
  );
}
