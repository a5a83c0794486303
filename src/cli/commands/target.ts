/**
 * `medshield target serve` — put a model behind a plain HTTP endpoint (src/attacks/targets/model-server.ts)
 * so black-box attacks can query it as an attacker would a vendor's API:
 *
 *   medshield target serve --model default --port 8500 --output label --api-key secret
 *   medshield attack --dataset pneumoniamnist --attack hsj --target-url http://127.0.0.1:8500 --api-key secret
 *
 * Runs until SIGINT/SIGTERM. Not the hardened gateway (`medshield serve`).
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { action, parseIntArg, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import type { TargetOutput } from '../../api/target.js';

interface TargetServeOpts extends CommonOptions {
  model: string;
  port: number;
  host: string;
  output: TargetOutput;
  apiKey?: string;
  bodyLimit?: number;
}

export default function register(program: Command): void {
  const target = program.command('target').description('HTTP targets for black-box attacks');
  withCommon(
    target
      .command('serve')
      .description('serve a model over HTTP (JSON instances or PNG bodies; GET /metadata) for black-box attacks')
      .option('--model <DIR>', "model directory, .onnx file, or 'default' for the shipped model", 'default')
      .option('--port <P>', 'TCP port (0 = any free port)', parseIntArg('--port', 0, 65535), 8500)
      .option('--host <ADDR>', 'address to bind', '127.0.0.1')
      .addOption(
        new Option('--output <kind>', 'what the endpoint returns')
          .choices(['probabilities', 'label'])
          .default('probabilities'),
      )
      .option(
        '--api-key <key>',
        'require this key (Authorization: Bearer KEY or X-API-Key: KEY; env MEDSHIELD_TARGET_API_KEY)',
      )
      .option(
        '--body-limit <bytes>',
        'largest request body accepted',
        parseIntArg('--body-limit', 1024, 2 ** 31),
        32 * 1024 * 1024,
      ),
  ).action(
    action(async (o: TargetServeOpts) => {
      if (o.backend) await startEngine({ ...o, json: true });
      else await startEngine({ ...o, backend: 'wasm', json: true }).catch(() => startEngine({ ...o, json: true }));
      const { serveTarget } = await import('../../api/target.js');
      const apiKey = o.apiKey ?? process.env.MEDSHIELD_TARGET_API_KEY;
      const s = await serveTarget({
        model: o.model,
        port: o.port,
        host: o.host,
        output: o.output,
        apiKey,
        bodyLimitBytes: o.bodyLimit,
      });
      const model = { card: { name: s.modelName } };
      if (o.json)
        printJson({
          url: s.url,
          pid: process.pid,
          model: model.card.name,
          output: o.output,
          apiKey: apiKey !== undefined,
        });
      else
        process.stdout.write(
          `medshield target listening on ${s.url} (model ${model.card.name}, ${o.output}` +
            `${apiKey !== undefined ? ', API key required' : ''}; POST / or /predict, GET /metadata)\n`,
        );
      const stop = () => {
        s.close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      await new Promise(() => undefined);
    }),
  );
}
