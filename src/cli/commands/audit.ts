/**
 * `medshield audit verify` — check a gateway audit log's hash chain and signatures; names the first broken
 * record. Exit 0 = intact, 1 = broken, 2 = bad input (no such file, not an audit database, corrupt database).
 *
 * With the gateway certificate (from --config, or --cert) signatures are required: the head must be signed, no run
 * of unsigned records may exceed signEvery, and the log must match the gateway's signed checkpoint file
 * (src/gateway/audit/verify.ts).
 */
import type { Command } from 'commander';
import { action, parseIntArg, printJson, withCommon, type CommonOptions } from '../run.js';
import { verifyAuditLog } from '../../gateway/index.js';

interface VerifyOpts extends CommonOptions {
  config?: string;
  db?: string;
  cert?: string;
  checkpoint?: string;
  signEvery?: number;
}

export default function register(program: Command): void {
  const audit = program.command('audit').description('the gateway audit log');
  withCommon(
    audit
      .command('verify')
      .description('check the audit hash chain and gateway signatures; name the first broken record')
      .option(
        '--config <gateway.yaml>',
        'gateway configuration (audit.url, audit.signingCert, audit.signEvery, audit.checkpoint)',
      )
      .option('--db <sqlite:PATH|PATH|postgres://…>', 'audit database instead of --config')
      .option('--cert <gateway-cert.pem>', 'gateway certificate to check the chain signatures (makes them required)')
      .option(
        '--checkpoint <FILE>',
        "the gateway's signed checkpoint (default: the config's; with --db, '<sqlite file>.checkpoint' when it exists)",
      )
      .option(
        '--sign-every <N>',
        "longest unsigned run allowed where a signature record states none (default: the config's audit.signEvery)",
        parseIntArg('--sign-every', 1),
      ),
  ).action(
    action(async (o: VerifyOpts) => {
      const r = await verifyAuditLog(o);
      if (o.json) printJson(r);
      else if (r.valid) {
        const sigs =
          `${r.signatures} gateway signatures` +
          `${r.signaturesChecked ? ' verified' : ' (not checked: no certificate)'}`;
        const cp = r.checkpointSeq !== null ? `, checkpoint at record ${r.checkpointSeq}` : '';
        process.stdout.write(`audit log intact: ${r.records} records, ${sigs}${cp}; head ${r.headSeq} ${r.headHash}\n`);
      } else process.stdout.write(`audit log BROKEN at record ${r.firstBroken!.seq}: ${r.firstBroken!.reason}\n`);
      process.exitCode = r.valid ? 0 : 1;
    }),
  );
}
