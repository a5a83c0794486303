/**
 * `medshield audit verify` — check a gateway audit log's hash chain and signatures; names the first broken
 * record. Exit 0 = intact, 1 = broken, 2 = bad input.
 */
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { createPublicKey, X509Certificate } from 'node:crypto';
import { action, printJson, withCommon, type CommonOptions } from '../run.js';
import { badArgument } from '../../errors.js';
import { loadGatewayConfig, openAuditStore, verifyChain } from '../../gateway/index.js';
import { SqliteAuditStore } from '../../gateway/audit/sqlite.js';

interface VerifyOpts extends CommonOptions { config?: string; db?: string; cert?: string }

export default function register(program: Command): void {
  const audit = program.command('audit').description('the gateway audit log');
  withCommon(audit.command('verify').description('check the audit hash chain and gateway signatures; name the first broken record')
    .option('--config <gateway.yaml>', 'gateway configuration (audit.url and audit.signingCert)')
    .option('--db <sqlite:PATH|PATH|postgres://…>', 'audit database instead of --config')
    .option('--cert <gateway-cert.pem>', 'gateway certificate to check the chain signatures'))
    .action(action(async (o: VerifyOpts) => {
      if (!!o.config === !!o.db) throw badArgument('give exactly one of --config or --db');
      let url = o.db ?? '';
      let certFile = o.cert ?? null;
      if (o.config) { const c = loadGatewayConfig(o.config); url = c.audit.url; certFile ??= c.audit.signingCert; }
      const publicKey = certFile ? createPublicKey(new X509Certificate(readFileSync(certFile)).publicKey.export({ type: 'spki', format: 'pem' })) : null;
      const store = url.startsWith('postgres') ? await openAuditStore(url) : SqliteAuditStore.open(url.replace(/^sqlite:/, ''), { readOnly: true });
      try {
        const r = await verifyChain(store, publicKey);
        if (o.json) printJson(r);
        else if (r.valid) process.stdout.write(`audit log intact: ${r.records} records, ${r.signatures} gateway signatures${r.signaturesChecked ? ' verified' : ' (not checked: no certificate)'}; head ${r.headSeq} ${r.headHash}\n`);
        else process.stdout.write(`audit log BROKEN at record ${r.firstBroken!.seq}: ${r.firstBroken!.reason}\n`);
        process.exitCode = r.valid ? 0 : 1;
      } finally { await store.close(); }
    }));
}
