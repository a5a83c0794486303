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
import { action, printJson, serveUntilSignal, startEngine, withCommon, type CommonOptions } from '../run.js';
import { addFlags, pick } from '../flags.js';
import type { TargetOutput, TargetServeSpec } from '../../api/target.js';

interface TargetServeCli extends CommonOptions, Omit<TargetServeSpec, 'bodyLimitBytes'> {
  output: TargetOutput;
  bodyLimit?: number;
}

const FLAGS = {
  '--model <DIR>; default default': "model directory, .onnx file, or 'default' for the shipped model",
  '--port <P>; int 0..65535; default 8500': 'TCP port (0 = any free port)',
  '--host <ADDR>; default 127.0.0.1': 'address to bind',
  '--output <kind>; one of probabilities|label; default probabilities': 'what the endpoint returns',
  '--api-key <key>': 'require this key (Authorization: Bearer KEY or X-API-Key: KEY; env MEDSHIELD_TARGET_API_KEY)',
  '--body-limit <bytes>; int 1024..2147483648; default 33554432': 'largest request body accepted',
};

export default function register(program: Command): void {
  const target = program.command('target').description('HTTP targets for black-box attacks');
  const about = 'serve a model over HTTP (JSON instances or PNG bodies; GET /metadata) for black-box attacks';
  withCommon(addFlags(target.command('serve').description(about), FLAGS)).action(
    action(async (o: TargetServeCli) => {
      if (o.backend) await startEngine({ ...o, json: true });
      else await startEngine({ ...o, backend: 'wasm', json: true }).catch(() => startEngine({ ...o, json: true }));
      const { serveTarget } = await import('../../api/target.js');
      const apiKey = o.apiKey ?? process.env.MEDSHIELD_TARGET_API_KEY;
      const s = await serveTarget({
        ...pick<TargetServeSpec>(o, 'model port host output'),
        apiKey,
        bodyLimitBytes: o.bodyLimit,
      });
      const key = apiKey !== undefined;
      if (o.json) printJson({ url: s.url, pid: process.pid, model: s.modelName, output: o.output, apiKey: key });
      else
        process.stdout.write(
          `medshield target listening on ${s.url} (model ${s.modelName}, ${o.output}` +
            `${key ? ', API key required' : ''}; POST / or /predict, GET /metadata)\n`,
        );
      await serveUntilSignal(() => s.close());
    }),
  );
}
