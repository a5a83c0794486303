/**
 * `medshield evidence --campaign ID [--store URL] --out bundle.zip` — the evidence bundle of a campaign
 * (src/api/evidence.ts): reports, model cards, spec, SBOM, the gateway's threat model and, with
 * --gateway-config, the audit log's verification; a manifest of SHA-256 hashes signed with --key/--cert
 * (`medshield keys init` makes test ones). `medshield verify bundle.zip --trust CA.pem` checks it.
 */
import type { Command } from 'commander';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { action, printJson, withCommon, type CommonOptions } from '../run.js';
import { badArgument } from '../../errors.js';
import { buildEvidence } from '../../api/evidence.js';
import { openStore } from '../../api/campaign/index.js';
import { loadSigner, pemCertificates } from '../../api/provenance.js';
import { loadGatewayConfig, verifyGatewayAudit } from '../../gateway/index.js';

interface EvidenceCli extends CommonOptions {
  campaign: string;
  store?: string;
  out: string;
  key?: string;
  cert?: string;
  chain?: string;
  gatewayConfig?: string;
  sbom: boolean;
}

export default function register(program: Command): void {
  withCommon(
    program
      .command('evidence')
      .description(
        'evidence bundle of a campaign (zip): reports, model cards, ' +
          'spec, SBOM, threat model, audit verification, signed manifest',
      )
      .requiredOption('--campaign <ID>', 'campaign id (`medshield campaign list`)')
      .option('--store <URL>', 'results store: sqlite:/path.db, a file path, or postgres://…')
      .requiredOption('--out <bundle.zip>', 'output zip')
      .option('--key <KEY.pem>', 'signing key for the manifest (PEM, RSA or EC)')
      .option('--cert <CERT.pem>', 'its certificate (PEM)')
      .option('--chain <CA.pem>', 'issuer certificates to put in the signature (PEM, optional)')
      .option('--gateway-config <FILE>', "gateway configuration: add its audit log's verification")
      .option('--no-sbom', 'leave out the CycloneDX SBOM (it takes ~20 s)'),
  ).action(
    action(async (o: EvidenceCli) => {
      if (!!o.key !== !!o.cert) throw badArgument('--key and --cert go together');
      if (!o.store) throw badArgument('give --store URL (the campaign results store)');
      const signer = o.key && o.cert ? loadSigner(readFileSync(o.key), readFileSync(o.cert)) : null;
      const audit = o.gatewayConfig
        ? await verifyGatewayAudit(loadGatewayConfig(o.gatewayConfig), o.gatewayConfig)
        : undefined;
      const store = await openStore(o.store);
      try {
        const { zip, manifest } = await buildEvidence(store, o.campaign, {
          signer: signer
            ? {
                key: signer.key,
                chain: [signer.certDer, ...(o.chain ? pemCertificates(readFileSync(o.chain, 'utf8'), '--chain') : [])],
              }
            : null,
          sbom: o.sbom,
          audit,
          command: `medshield evidence --campaign ${o.campaign}${o.gatewayConfig ? ' --gateway-config …' : ''}`,
        });
        writeFileSync(o.out, zip);
        const summary = {
          out: path.resolve(o.out),
          bytes: zip.length,
          campaign: manifest.campaign.id,
          files: manifest.files.length,
          signed: manifest.signed,
          notes: manifest.notes,
        };
        if (o.json) printJson(summary);
        else
          process.stdout.write(
            `${o.out}: ${manifest.files.length} files, manifest ` +
              `${manifest.signed ? 'signed' : 'NOT signed (give --key and --cert)'}` +
              `${manifest.notes.length ? `; ${manifest.notes.join('; ')}` : ''}\n`,
          );
      } finally {
        await store.close();
      }
    }),
  );
}
