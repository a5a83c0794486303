/**
 * `medshield evidence --campaign ID [--store URL] --out bundle.zip` — the evidence bundle of a campaign
 * (src/api/evidence.ts): reports, model cards, spec, SBOM, the gateway's threat model and, with
 * --gateway-config, the audit log's verification; a manifest of SHA-256 hashes signed with --key/--cert
 * (`medshield keys init` makes test ones). `medshield verify bundle.zip --trust CA.pem` checks it.
 */
import type { Command } from 'commander';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { action, printResult, withCommon, type CommonOptions } from '../run.js';
import { addFlags } from '../flags.js';
import { badArgument } from '../../errors.js';
import { buildEvidence } from '../../api/evidence.js';
import { withStore } from '../../api/campaign/index.js';
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

const FLAGS = {
  '--campaign <ID>; required': 'campaign id (`medshield campaign list`)',
  '--store <URL>': 'results store: sqlite:/path.db, a file path, or postgres://…',
  '--out <bundle.zip>; required': 'output zip',
  '--key <KEY.pem>': 'signing key for the manifest (PEM, RSA or EC)',
  '--cert <CERT.pem>': 'its certificate (PEM)',
  '--chain <CA.pem>': 'issuer certificates to put in the signature (PEM, optional)',
  '--gateway-config <FILE>': "gateway configuration: add its audit log's verification",
  '--no-sbom': 'leave out the CycloneDX SBOM (it takes ~20 s)',
};

export default function register(program: Command): void {
  const about =
    'evidence bundle of a campaign (zip): reports, model cards, ' +
    'spec, SBOM, threat model, audit verification, signed manifest';
  withCommon(addFlags(program.command('evidence').description(about), FLAGS)).action(
    action(async (o: EvidenceCli) => {
      if (!!o.key !== !!o.cert) throw badArgument('--key and --cert go together');
      if (!o.store) throw badArgument('give --store URL (the campaign results store)');
      const signer = o.key && o.cert ? loadSigner(readFileSync(o.key), readFileSync(o.cert)) : null;
      const chain = signer && o.chain ? pemCertificates(readFileSync(o.chain, 'utf8'), '--chain') : [];
      const cfg = o.gatewayConfig;
      const audit = cfg ? await verifyGatewayAudit(loadGatewayConfig(cfg), cfg) : undefined;
      const command = `medshield evidence --campaign ${o.campaign}${cfg ? ' --gateway-config …' : ''}`;
      const sign = signer ? { key: signer.key, chain: [signer.certDer, ...chain] } : null;
      const { zip, manifest } = await withStore(o.store, (store) =>
        buildEvidence(store, o.campaign, { signer: sign, sbom: o.sbom, audit, command }),
      );
      writeFileSync(o.out, zip);
      const { files, signed, notes } = manifest;
      const summary = {
        out: path.resolve(o.out),
        bytes: zip.length,
        campaign: manifest.campaign.id,
        files: files.length,
        signed,
        notes,
      };
      printResult(
        o.json,
        summary,
        () =>
          `${o.out}: ${files.length} files, manifest ` +
          `${signed ? 'signed' : 'NOT signed (give --key and --cert)'}${notes.length ? `; ${notes.join('; ')}` : ''}\n`,
      );
    }),
  );
}
