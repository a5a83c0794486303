/**
 * `medshield sign` / `medshield verify` — signed PNG and JPEG images (src/provenance/image-signature.ts):
 * a detached JWS over every other byte of the file, in a PNG "mdSG" chunk or a JPEG APP15 segment.
 * Same policy flags and JSON as `medshield dicom verify`; exit 0 all valid, 1 any invalid, 2 bad input.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { readFileSync, writeFileSync, existsSync, statSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { action, printJson, withCommon, type CommonOptions } from '../run.js';
import { badArgument, badInput, oneLine } from '../../errors.js';
import { loadSigner, pemCertificates, signImage, verifyImage } from '../../api/provenance.js';

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];
const listFiles = (p: string): string[] =>
  statSync(p).isDirectory()
    ? readdirSync(p)
        .sort()
        .flatMap((n) => listFiles(path.join(p, n)))
    : [p];

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
        const trust = (o.trust ?? []).flatMap((f) => pemCertificates(readFileSync(f, 'utf8'), `--trust ${f}`));
        for (const p of paths) if (!existsSync(p)) throw badInput(`no such file or folder: ${p}`);
        const files = paths.flatMap(listFiles);
        if (!files.length) throw badArgument('no files to verify');
        const policy = {
          trust,
          requireSignature: !!o.requireSignature,
          allowedAlgorithms: o.allowAlgorithms?.split(',').map((s) => s.trim().toUpperCase()),
        };
        const rows: Array<Record<string, unknown>> = [];
        let invalid = false;
        let bad = false;
        for (const f of files) {
          try {
            const bytes = readFileSync(f);
            if (bytes.subarray(0, 4).equals(Buffer.from('PK\x03\x04', 'latin1'))) {
              // an evidence bundle (zip): files vs the signed manifest
              const ev = await (await import('../../api/evidence.js')).verifyEvidence(bytes, trust);
              if (!ev.valid) invalid = true;
              rows.push({
                file: f,
                bundle: true,
                valid: ev.valid,
                reason: ev.reason,
                signer: ev.signer,
                campaign: ev.campaign,
                files: ev.files,
              });
              continue;
            }
            const rep = await verifyImage(bytes, policy);
            if (!rep.valid) invalid = true;
            rows.push({
              file: f,
              signed: rep.signed,
              valid: rep.valid,
              reason: rep.reason,
              signatures: rep.signatures.map((s) => ({
                uid: s.uid,
                profile: s.profile,
                algorithm: s.algorithm,
                signer: s.signer,
                time: s.time,
                coversPixelData: s.coversPixelData,
                valid: s.valid,
                reason: s.reason,
                location: s.location,
              })),
            });
          } catch (e) {
            if (files.length === 1) throw e;
            bad = true;
            rows.push({ file: f, signed: false, valid: false, error: oneLine(e), signatures: [] });
          }
        }
        if (o.json) printJson(rows);
        else
          for (const r of rows)
            process.stdout.write(
              `${r.file}: ${r.error ? 'error: ' + r.error : (r.valid ? 'VALID' : 'INVALID') + ' — ' + r.reason}\n`,
            );
        process.exitCode = bad ? 2 : invalid ? 1 : 0;
      },
    ),
  );
}
