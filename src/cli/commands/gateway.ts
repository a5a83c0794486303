/** `medshield gateway init|key|config-reference` — set up a gateway folder and manage its API keys. */
import type { Command } from 'commander';
import { action, printJson, printResult, withCommon, type CommonOptions } from '../run.js';
import { addFlags } from '../flags.js';
import * as G from '../../gateway/index.js';

type InitCli = CommonOptions & { out: string; model?: string; port?: number; force?: boolean };
type KeyCli = CommonOptions & { config: string; role: G.Role; label: string };
const CONFIG = { '--config <gateway.yaml>; required': 'gateway configuration' };
const INIT_FLAGS = {
  '--out <DIR>; required': 'folder to create',
  '--model <DIR>': "model for the config ('default' = the shipped model)",
  '--port <P>; int 0..65535': 'port in the config',
  '--force': 'overwrite a non-empty folder (rewrites keys and config with modes 0600/0700)',
};
const keysFile = (o: KeyCli): string => G.loadGatewayConfig(o.config).auth.keysFile;
const initText = (r: Awaited<ReturnType<typeof G.initGateway>>): string =>
  `gateway config: ${r.config}\nclinician API key (shown once): ${r.apiKey}\nauditor API ` +
  `key (shown once): ${r.auditorKey}\nimage signer: ${r.signerKey} + ${r.signerCert} (CA ` +
  `${r.caCert})\ngateway audit/result key: ${r.gatewayKey} + ${r.gatewayCert} (separate audit ` +
  `CA ${r.auditCaCert}, not trusted for images)\nstart: medshield serve --config ${r.config}\n`;

export default function register(program: Command): void {
  const gw = program.command('gateway').description('set up the inference gateway and manage its API keys');
  const about =
    'write a ready-to-run gateway folder: config, API keys, image-signer CA + ' +
    'signer, separate audit CA + gateway key (keys and config 0600, folders 0700)';
  withCommon(addFlags(gw.command('init').description(about), INIT_FLAGS)).action(
    action(async (o: InitCli) => {
      printResult(o.json, await G.initGateway(o.out, { model: o.model, port: o.port, force: o.force }), initText);
    }),
  );

  const key = gw.command('key').description('API keys: add, revoke, list (stored as scrypt hashes)');
  const ADD_FLAGS = {
    [`--role <role>; one of ${G.ROLES.join('|')}; default clinician`]: 'role of the key',
    '--label <text>; default ': 'who the key is for',
  };
  withCommon(addFlags(key.command('add').description('create an API key (printed once)'), CONFIG, ADD_FLAGS)).action(
    action(async (o: KeyCli) => {
      const r = G.addKey(keysFile(o), o.role, o.label);
      if (o.json) printJson({ ...r, role: o.role });
      else process.stdout.write(`${r.apiKey}\n`);
    }),
  );
  const revoke = key.command('revoke').description('revoke an API key by id (takes effect on the next request)');
  withCommon(addFlags(revoke, CONFIG).argument('<id>', 'key id (the 8 hex characters after msk_)')).action(
    action(async (id: string, o: KeyCli) => {
      const k = G.revokeKey(keysFile(o), id);
      if (o.json) printJson({ id: k.id, role: k.role, revoked: k.revoked });
      else process.stdout.write(`revoked ${k.id} (${k.role}) at ${k.revoked}\n`);
    }),
  );
  const list = key.command('list').description('list API keys (ids, roles, revocation; never secrets)');
  withCommon(addFlags(list, CONFIG)).action(
    action(async (o: KeyCli) => {
      const line = (k: ReturnType<typeof G.listKeys>[number]): string =>
        `${k.id}  ${k.role.padEnd(9)}  ${k.revoked ? 'revoked ' + k.revoked : 'active'}  ${k.label}\n`;
      printResult(o.json, G.listKeys(keysFile(o)), (ks) => ks.map(line).join(''));
    }),
  );
  const ref = gw.command('config-reference').description('print every gateway.yaml field with its default (Markdown)');
  withCommon(ref, { json: false }).action(
    action(async () => {
      process.stdout.write(G.configReference() + '\n');
    }),
  );
}
