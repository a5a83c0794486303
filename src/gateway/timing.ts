/**
 * Where a request's time goes: per-stage durations of /v1/infer (issue 24 item 8). Every request records them;
 * they feed the `medshield_gateway_stage_seconds{stage}` histogram and, when `logging.serverTiming` is on, a
 * `Server-Timing` response header (W3C Server Timing) that bench/gateway/run.ts aggregates into the latency
 * breakdown of docs/gateway.md. Off by default: stage times tell a caller how long verification took.
 *
 * Stages, in request order: auth (key lookup), receive (body upload and content-type parse), hash (sha256 of the
 * body, for the audit record), parse (DICOM parse, once), verify (PS3.15 signatures and policy), decode (pixels from
 * the verified parse), screen (input detectors), queue (waiting for the micro-batch), model (the batch's forward
 * pass), answer (output policy and answer signature), audit (the hash-chained record, before the answer leaves).
 */
import type { FastifyRequest } from 'fastify';

export const STAGES = [
  'auth',
  'receive',
  'hash',
  'parse',
  'verify',
  'decode',
  'screen',
  'queue',
  'model',
  'answer',
  'audit',
] as const;
export type Stage = (typeof STAGES)[number];
export type StageTimes = Partial<Record<Stage, number>>;

declare module 'fastify' {
  interface FastifyRequest {
    /** Milliseconds spent in each stage of this request. */
    stageMs?: StageTimes;
  }
}

/** A monotonic clock in milliseconds. */
export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Add `ms` to the request's `stage`. */
export function addStage(req: FastifyRequest, stage: Stage, ms: number): void {
  if (!(ms >= 0)) return;
  req.stageMs ??= {};
  req.stageMs[stage] = (req.stageMs[stage] ?? 0) + ms;
}

/** Add a set of stage times (e.g. measured inside the image verifier). */
export function addStages(req: FastifyRequest, t: StageTimes | undefined): void {
  if (!t) return;
  for (const s of STAGES) if (t[s] !== undefined) addStage(req, s, t[s]!);
}

/** `auth;dur=0.08, verify;dur=1.9, …, total;dur=4.2` (milliseconds, 3 decimals). */
export function serverTimingHeader(t: StageTimes, totalMs: number): string {
  const parts = STAGES.filter((s) => t[s] !== undefined).map((s) => `${s};dur=${t[s]!.toFixed(3)}`);
  parts.push(`total;dur=${totalMs.toFixed(3)}`);
  return parts.join(', ');
}

/** Parse a Server-Timing header back into stage → ms (the benchmark's side). */
export function parseServerTiming(h: string | undefined | null): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of String(h ?? '').split(',')) {
    const m = /^\s*([a-z]+)\s*;\s*dur=([0-9.]+)/.exec(part);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}
