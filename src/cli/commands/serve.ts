/**
 * `medshield serve` — run the hardened inference gateway (src/gateway) until SIGINT/SIGTERM, then shut down gracefully.
 */
import type { Command } from 'commander';
import { action, parseIntArg, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import path from 'node:path';
import { createGateway, loadGatewayConfig, defaultCheckpoint } from '../../gateway/index.js';

interface ServeOpts extends CommonOptions {
  config: string;
  model?: string;
  port?: number;
  host?: string;
  audit?: string;
}

export default function register(program: Command): void {
  withCommon(
    program
      .command('serve')
      .description('serve a model behind the hardened gateway (signed images only, API keys, audit log)')
      .requiredOption('--config <gateway.yaml>', 'gateway configuration (make one with `medshield gateway init`)')
      .option('--model <DIR>', "model directory or 'default' (overrides the config's model)")
      .option('--port <P>', 'TCP port (overrides the config; 0 = any free port)', parseIntArg('--port', 0, 65535))
      .option('--host <ADDR>', 'address to bind (overrides the config)')
      .option('--audit <URL>', "audit store (overrides the config): 'sqlite:PATH' or 'postgres://user@host/db'"),
  ).action(
    action(async (o: ServeOpts) => {
      const cfg = loadGatewayConfig(o.config);
      if (o.model) cfg.model = o.model;
      if (o.audit) {
        cfg.audit.url = o.audit.startsWith('postgres') || o.audit.startsWith('sqlite:') ? o.audit : `sqlite:${o.audit}`;
        // The checkpoint follows the store to its default place (beside the SQLite file; beside the config for
        // PostgreSQL).
        cfg.audit.checkpoint = defaultCheckpoint(cfg.audit.url, path.dirname(path.resolve(o.config)));
      }
      // Single-image requests: tfjs-wasm answers one 28×28 CNN forward pass in ≈3 ms here, the native
      // backend's thread pool ≈100 ms on a loaded 2-core machine, so the gateway defaults to wasm.
      if (o.backend) await startEngine({ ...o, json: true });
      else await startEngine({ ...o, backend: 'wasm', json: true }).catch(() => startEngine({ ...o, json: true }));
      const gw = await createGateway(cfg);
      const url = await gw.listen(o.port ?? cfg.listen.port, o.host ?? cfg.listen.host);
      if (o.json) printJson({ url, pid: process.pid, model: `${gw.ctx.modelId}@${gw.ctx.modelVersion}` });
      else
        process.stdout.write(
          `medshield gateway listening on ${url} (model ${gw.ctx.modelId}` +
            `@${gw.ctx.modelVersion}; OpenAPI at ${url}/docs)\n`,
        );
      const stop = (sig: string) => {
        gw.app.log.info({ signal: sig }, 'shutting down');
        gw.close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
      await new Promise(() => undefined);
    }),
  );
}
