/** `medshield gateway init|key|config-reference` — set up a gateway folder and manage its API keys. */
import type { Command } from 'commander';
import { Option } from 'commander';
import { action, printJson, withCommon, parseIntArg, type CommonOptions } from '../run.js';
import {
  initGateway,
  addKey,
  revokeKey,
  listKeys,
  configReference,
  ROLES,
  loadGatewayConfig,
  type Role,
} from '../../gateway/index.js';

interface InitOpts extends CommonOptions {
  out: string;
  model?: string;
  port?: number;
  force?: boolean;
}
interface KeyOpts extends CommonOptions {
  config: string;
}

export default function register(program: Command): void {
  const gw = program.command('gateway').description('set up the inference gateway and manage its API keys');
  withCommon(
    gw
      .command('init')
      .description(
        'write a ready-to-run gateway folder: config, API keys, image-signer CA + ' +
          'signer, separate audit CA + gateway key (keys and config 0600, folders 0700)',
      )
      .requiredOption('--out <DIR>', 'folder to create')
      .option('--model <DIR>', "model for the config ('default' = the shipped model)")
      .option('--port <P>', 'port in the config', parseIntArg('--port', 0, 65535))
      .option('--force', 'overwrite a non-empty folder (rewrites keys and config with modes 0600/0700)'),
  ).action(
    action(async (o: InitOpts) => {
      const r = await initGateway(o.out, { model: o.model, port: o.port, force: o.force });
      if (o.json) printJson(r);
      else
        process.stdout.write(
          `gateway config: ${r.config}\nclinician API key (shown once): ${r.apiKey}\nauditor API ` +
            `key (shown once): ${r.auditorKey}\nimage signer: ${r.signerKey} + ${r.signerCert} (CA ` +
            `${r.caCert})\ngateway audit/result key: ${r.gatewayKey} + ${r.gatewayCert} (separate audit ` +
            `CA ${r.auditCaCert}, not trusted for images)\nstart: medshield serve --config ${r.config}\n`,
        );
    }),
  );

  const key = gw.command('key').description('API keys: add, revoke, list (stored as scrypt hashes)');
  withCommon(
    key
      .command('add')
      .description('create an API key (printed once)')
      .requiredOption('--config <gateway.yaml>', 'gateway configuration')
      .addOption(new Option('--role <role>', 'role of the key').choices(ROLES).default('clinician'))
      .option('--label <text>', 'who the key is for', ''),
  ).action(
    action(async (o: KeyOpts & { role: Role; label: string }) => {
      const r = addKey(loadGatewayConfig(o.config).auth.keysFile, o.role, o.label);
      if (o.json) printJson({ ...r, role: o.role });
      else process.stdout.write(`${r.apiKey}\n`);
    }),
  );
  withCommon(
    key
      .command('revoke')
      .description('revoke an API key by id (takes effect on the next request)')
      .requiredOption('--config <gateway.yaml>', 'gateway configuration')
      .argument('<id>', 'key id (the 8 hex characters after msk_)'),
  ).action(
    action(async (id: string, o: KeyOpts) => {
      const k = revokeKey(loadGatewayConfig(o.config).auth.keysFile, id);
      if (o.json) printJson({ id: k.id, role: k.role, revoked: k.revoked });
      else process.stdout.write(`revoked ${k.id} (${k.role}) at ${k.revoked}\n`);
    }),
  );
  withCommon(
    key
      .command('list')
      .description('list API keys (ids, roles, revocation; never secrets)')
      .requiredOption('--config <gateway.yaml>', 'gateway configuration'),
  ).action(
    action(async (o: KeyOpts) => {
      const ks = listKeys(loadGatewayConfig(o.config).auth.keysFile);
      if (o.json) printJson(ks);
      else
        for (const k of ks)
          process.stdout.write(
            `${k.id}  ${k.role.padEnd(9)}  ${k.revoked ? 'revoked ' + k.revoked : 'active'}  ${k.label}\n`,
          );
    }),
  );
  withCommon(gw.command('config-reference').description('print every gateway.yaml field with its default (Markdown)'), {
    json: false,
  }).action(
    action(async () => {
      process.stdout.write(configReference() + '\n');
    }),
  );
}
