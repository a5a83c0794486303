/**
 * `medshield verify-result FILE.jws --trust CA.pem` — check a gateway's signed answer (compact JWS,
 * src/provenance/result-signature.ts): signature, algorithm bound to the key type, certificate chain
 * (x5c) to the trust anchor. `--input IMG` also checks that the answer is about that exact file.
 * Exit 0 valid (prints the payload), 1 invalid, 2 bad input (unreadable file, not a JWS).
 */
import type { Command } from 'commander';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { action, printJson, withCommon, type CommonOptions } from '../run.js';
import { badArgument, badInput } from '../../errors.js';
import { pemCertificates, verifyResult } from '../../api/provenance.js';

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];
const read = (f: string, what: string): Buffer => {
  try {
    return readFileSync(f);
  } catch {
    throw badInput(`cannot read ${what} '${f}'`);
  }
};

export default function register(program: Command): void {
  withCommon(
    program
      .command('verify-result')
      .description("verify a gateway's signed answer (JWS) against trusted CA certificates")
      .argument('<file>', 'the JWS (the `result` field of a /v1/infer answer), or - for stdin')
      .option('--trust <CA.pem>', 'trusted CA certificate(s) (repeatable)', collect)
      .option('--intermediates <CERTS.pem>', 'untrusted intermediate CA certificates (repeatable)', collect)
      .option('--input <image>', 'also check that the answer is about this exact file (its SHA-256)')
      .option('--at <ISO-time>', 'check certificate validity at this time (default now)'),
  ).action(
    action(
      async (
        file: string,
        o: CommonOptions & { trust?: string[]; intermediates?: string[]; input?: string; at?: string },
      ) => {
        if (!o.trust?.length)
          throw badArgument('--trust CA.pem is required (the CA that issued the gateway certificate)');
        const trust = o.trust.flatMap((f) => pemCertificates(read(f, '--trust file').toString('utf8'), `--trust ${f}`));
        const intermediates = (o.intermediates ?? []).flatMap((f) =>
          pemCertificates(read(f, '--intermediates file').toString('utf8'), `--intermediates ${f}`),
        );
        const at = o.at ? new Date(o.at) : undefined;
        if (at && Number.isNaN(at.getTime())) throw badArgument(`--at '${o.at}' is not a date`);
        const text = (file === '-' ? readFileSync(0) : read(file, 'file')).toString('latin1');
        const r = await verifyResult(text, { trust, intermediates, at });
        if (r.valid && o.input && r.payload) {
          const sha = createHash('sha256').update(read(o.input, '--input')).digest('hex');
          if (sha !== r.payload.inputSha256) {
            r.valid = false;
            r.reason =
              `the answer is about input ${String(r.payload.inputSha256).slice(0, 16)}` +
              `…, not '${o.input}' (${sha.slice(0, 16)}…)`;
          }
        }
        if (o.json)
          printJson({
            file,
            valid: r.valid,
            reason: r.reason,
            alg: r.alg,
            signer: r.signer,
            chain: r.chain,
            payload: r.valid ? r.payload : null,
          });
        else {
          process.stdout.write(`${file}: ${r.valid ? 'VALID' : 'INVALID'} — ${r.reason}\n`);
          if (r.valid) process.stdout.write(JSON.stringify(r.payload, null, 2) + '\n');
        }
        process.exitCode = r.valid ? 0 : 1;
      },
    ),
  );
}
