/**
 * `medshield dashboard` — serve the read-only dashboard (src/dashboard) over a campaign results store until
 * SIGINT/SIGTERM.
 */
import type { Command } from 'commander';
import path from 'node:path';
import { action, parseIntArg, printJson, withCommon, type CommonOptions } from '../run.js';
import { createDashboard, openDashboardStore } from '../../dashboard/index.js';
import { loadGatewayConfig } from '../../gateway/index.js';

interface DashboardOpts extends CommonOptions {
  store?: string;
  gatewayConfig?: string;
  keys?: string;
  host: string;
  port: number;
}

export default function register(program: Command): void {
  withCommon(
    program
      .command('dashboard')
      .description(
        'serve the read-only dashboard: models, campaigns, scorecards, gallery (and the gateway with --gateway-config)',
      )
      .option('--store <URL>', "campaign results store: 'sqlite:PATH', PATH.db or 'postgres://user@host/db'")
      .option('--gateway-config <FILE>', 'gateway configuration (gateway view; its auth.keysFile holds the API keys)')
      .option('--keys <FILE>', "API keys file (default: the gateway configuration's); auditor keys may read")
      .option(
        '--host <ADDR>',
        'address to bind; beyond loopback every data request needs an auditor API key',
        '127.0.0.1',
      )
      .option('--port <P>', 'TCP port (0 = any free port)', parseIntArg('--port', 0, 65535), 8080),
  ).action(
    action(async (o: DashboardOpts) => {
      const gatewayConfig = o.gatewayConfig ? loadGatewayConfig(o.gatewayConfig) : null;
      const store = o.store ? await openDashboardStore(o.store) : null;
      const dash = await createDashboard({
        store,
        storeLabel: o.store ?? null,
        gatewayConfig,
        gatewayConfigPath: o.gatewayConfig ? path.resolve(o.gatewayConfig) : null,
        host: o.host,
        keysFile: o.keys ?? null,
      });
      const url = await dash.listen(o.port);
      if (o.json) printJson({ url, pid: process.pid });
      else process.stdout.write(`medshield dashboard on ${url} (read-only; OpenAPI at ${url}/openapi.json)\n`);
      const stop = () => {
        Promise.resolve(dash.close())
          .then(() => store?.close?.())
          .finally(() => process.exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      await new Promise(() => undefined);
    }),
  );
}
