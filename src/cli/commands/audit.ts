/**
 * `medshield audit verify` — check a gateway audit log's hash chain and signatures; names the first broken
 * record. Exit 0 = intact, 1 = broken, 2 = bad input (no such file, not an audit database, corrupt database).
 *
 * With the gateway certificate (from --config, or --cert) signatures are required: the head must be signed, no run
 * of unsigned records may exceed signEvery, and the log must match the gateway's signed checkpoint file
 * (src/gateway/audit/verify.ts).
 */
import type { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createPublicKey, X509Certificate } from 'node:crypto';
import { action, parseIntArg, printJson, withCommon, type CommonOptions } from '../run.js';
import { MedshieldError, badArgument, badInput, oneLine } from '../../errors.js';
import { auditCheckpointFile, loadGatewayConfig, openAuditStore, verifyChain, type AuditStore } from '../../gateway/index.js';
import { SqliteAuditStore } from '../../gateway/audit/sqlite.js';
import { defaultCheckpoint } from '../../gateway/audit/checkpoint.js';

interface VerifyOpts extends CommonOptions { config?: string; db?: string; cert?: string; checkpoint?: string; signEvery?: number }

export default function register(program: Command): void {
  const audit = program.command('audit').description('the gateway audit log');
  withCommon(audit.command('verify').description('check the audit hash chain and gateway signatures; name the first broken record')
    .option('--config <gateway.yaml>', 'gateway configuration (audit.url, audit.signingCert, audit.signEvery, audit.checkpoint)')
    .option('--db <sqlite:PATH|PATH|postgres://…>', 'audit database instead of --config')
    .option('--cert <gateway-cert.pem>', 'gateway certificate to check the chain signatures (makes them required)')
    .option('--checkpoint <FILE>', "the gateway's signed checkpoint (default: the config's; with --db, '<sqlite file>.checkpoint' when it exists)")
    .option('--sign-every <N>', 'longest unsigned run allowed where a signature record states none (default: the config\'s audit.signEvery)', parseIntArg('--sign-every', 1)))
    .action(action(async (o: VerifyOpts) => {
      if (!!o.config === !!o.db) throw badArgument('give exactly one of --config or --db');
      let url = o.db ?? '';
      let certFile = o.cert ?? null;
      let checkpoint = o.checkpoint ?? null;
      let signEvery = o.signEvery ?? null;
      if (o.config) {
        const c = loadGatewayConfig(o.config);
        url = c.audit.url; certFile ??= c.audit.signingCert; signEvery ??= c.audit.signEvery;
        checkpoint ??= auditCheckpointFile(c.audit, path.dirname(path.resolve(o.config)));
      } else if (!url.startsWith('postgres') && !checkpoint && existsSync(defaultCheckpoint(url, process.cwd()))) checkpoint = defaultCheckpoint(url, process.cwd());
      let publicKey = null;
      if (certFile) {
        try { publicKey = createPublicKey(new X509Certificate(readFileSync(certFile)).publicKey.export({ type: 'spki', format: 'pem' })); } catch (e) { throw badInput(`cannot read gateway certificate '${certFile}': ${oneLine(e)}`); }
      }
      const store: AuditStore = url.startsWith('postgres') ? await openAuditStore(url) : SqliteAuditStore.open(url.replace(/^sqlite:/, ''), { readOnly: true });
      try {
        let r;
        try { r = await verifyChain(store, publicKey, { signEvery, checkpoint }); } catch (e) {
          if (e instanceof MedshieldError) throw e;
          throw badInput(`cannot read audit database '${url.replace(/^sqlite:/, '')}': ${oneLine(e)}`);
        }
        if (o.json) printJson(r);
        else if (r.valid) process.stdout.write(`audit log intact: ${r.records} records, ${r.signatures} gateway signatures${r.signaturesChecked ? ' verified' : ' (not checked: no certificate)'}${r.checkpointSeq !== null ? `, checkpoint at record ${r.checkpointSeq}` : ''}; head ${r.headSeq} ${r.headHash}\n`);
        else process.stdout.write(`audit log BROKEN at record ${r.firstBroken!.seq}: ${r.firstBroken!.reason}\n`);
        process.exitCode = r.valid ? 0 : 1;
      } finally { await store.close().catch(() => undefined); }
    }));
}
