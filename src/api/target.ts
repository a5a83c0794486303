/**
 * `serveTarget`: put a model behind a plain HTTP endpoint (JSON instances or PNG bodies; GET /metadata) — the
 * victim of black-box attacks run from elsewhere (`--target-url`). The server is src/attacks/targets/model-server.ts.
 */
import { loadModel } from '../models/io.js';
import { serveModel, type ModelServer } from '../attacks/targets/model-server.js';
import type { TargetOutput } from '../attacks/targets/target.js';

export type { TargetOutput };

export interface TargetServeSpec {
  model: string;
  port?: number;
  host?: string;
  output?: TargetOutput;
  apiKey?: string;
  bodyLimitBytes?: number;
}

export async function serveTarget(spec: TargetServeSpec): Promise<ModelServer & { modelName: string }> {
  const model = await loadModel(spec.model);
  const s = await serveModel(model, {
    port: spec.port,
    host: spec.host,
    output: spec.output,
    apiKey: spec.apiKey,
    bodyLimitBytes: spec.bodyLimitBytes,
  });
  return Object.assign(s, { modelName: model.card.name });
}
