/**
 * The victim of `medshield attack`: the model itself (white-box and in-process black-box), an ONNX
 * file, or an HTTP endpoint — options shared by commands that attack through a `Target`.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { parseIntArg } from './run.js';
import { openVictim, type Model, type Target, type TargetOutput, type Task, type VictimRef } from '../api/common.js';

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

export function addTargetOptions(cmd: Command): Command {
  return cmd
    .option('--target-url <url>', 'attack a model behind an HTTP endpoint (JSON instances or PNG bodies)')
    .option('--target-onnx <file>', 'attack an ONNX model run by onnxruntime-node')
    .addOption(
      new Option(
        '--target-output <kind>',
        'what the target returns: probabilities, label (decision only) or auto (HTTP: detect)',
      ).choices(['probabilities', 'label', 'auto']),
    )
    .addOption(
      new Option(
        '--target-format <fmt>',
        'HTTP request body: json (TF-Serving "instances") or png (one image per request)',
      )
        .choices(['json', 'png'])
        .default('json'),
    )
    .option('--api-key <key>', 'HTTP target API key, sent as "Authorization: Bearer" (env MEDSHIELD_TARGET_API_KEY)')
    .option('--concurrency <n>', 'HTTP target: parallel requests', parseIntArg('--concurrency', 1, 256), 4)
    .option(
      '--pace-ms <ms>',
      'HTTP target: minimum milliseconds between request starts',
      parseIntArg('--pace-ms', 0, 3_600_000),
      0,
    )
    .option(
      '--retries <n>',
      'HTTP target: retries with exponential backoff on network errors, 429 and 5xx',
      parseIntArg('--retries', 0, 100),
      3,
    )
    .option('--timeout-ms <ms>', 'HTTP target: per-request timeout', parseIntArg('--timeout-ms', 1, 3_600_000), 30_000);
}

export function usesRemoteTarget(o: TargetCli): boolean {
  return !!(o.targetUrl || o.targetOnnx);
}

/** The library's VictimRef (src/api/common.ts) of these options. */
export function victimRef(o: TargetCli): VictimRef {
  return {
    url: o.targetUrl,
    onnx: o.targetOnnx,
    output: o.targetOutput,
    format: o.targetFormat,
    apiKey: o.apiKey,
    concurrency: o.concurrency,
    paceMs: o.paceMs,
    retries: o.retries,
    timeoutMs: o.timeoutMs,
  };
}

/** Open the target an attack queries: HTTP, ONNX, or the loaded model (optionally label-only). */
export async function openVictimTarget(
  o: TargetCli,
  meta: { model?: Model; inputShape?: [number, number, number]; classes?: string[]; task?: Task },
): Promise<Target> {
  return openVictim(victimRef(o), meta);
}
