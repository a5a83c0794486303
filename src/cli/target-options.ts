/**
 * The victim of `medshield attack`: the model itself (white-box and in-process black-box), an ONNX
 * file, or an HTTP endpoint — the flag table (src/cli/flags.ts) and the library's VictimRef of it.
 */
import type { TargetOutput, VictimRef } from '../api/common.js';
import type { FlagTable } from './flags.js';

export interface TargetCli {
  targetUrl?: string;
  targetOnnx?: string;
  targetOutput?: TargetOutput | 'auto';
  targetFormat?: 'json' | 'png';
  apiKey?: string;
  concurrency?: number;
  paceMs?: number;
  retries?: number;
  timeoutMs?: number;
}

export const TARGET_FLAGS: FlagTable = {
  '--target-url <url>': 'attack a model behind an HTTP endpoint (JSON instances or PNG bodies)',
  '--target-onnx <file>': 'attack an ONNX model run by onnxruntime-node',
  '--target-output <kind>; one of probabilities|label|auto':
    'what the target returns: probabilities, label (decision only) or auto (HTTP: detect)',
  '--target-format <fmt>; one of json|png; default json':
    'HTTP request body: json (TF-Serving "instances") or png (one image per request)',
  '--api-key <key>': 'HTTP target API key, sent as "Authorization: Bearer" (env MEDSHIELD_TARGET_API_KEY)',
  '--concurrency <n>; int 1..256; default 4': 'HTTP target: parallel requests',
  '--pace-ms <ms>; int 0..3600000; default 0': 'HTTP target: minimum milliseconds between request starts',
  '--retries <n>; int 0..100; default 3':
    'HTTP target: retries with exponential backoff on network errors, 429 and 5xx',
  '--timeout-ms <ms>; int 1..3600000; default 30000': 'HTTP target: per-request timeout',
};

/** The library's VictimRef (src/api/common.ts) of these options. */
export function victimRef(o: TargetCli): VictimRef {
  const { targetUrl: url, targetOnnx: onnx, targetOutput: output, targetFormat: format, apiKey } = o;
  return {
    url,
    onnx,
    output,
    format,
    apiKey,
    concurrency: o.concurrency,
    paceMs: o.paceMs,
    retries: o.retries,
    timeoutMs: o.timeoutMs,
  };
}
