/**
 * Everything a running gateway holds, passed to each Fastify plugin as its options (no globals), and
 * the per-request state the plugins share (caller identity, audit fields).
 */
import type { GatewayConfig } from './config.js';
import type { KeyStore, Role } from './keys.js';
import type { AuditLog } from './audit/log.js';
import type { ImageCheck } from './image-check.js';
import type { InputType } from './config.js';
import type { QueryDetector } from './query-detector.js';
import type { BatchedModel } from './inference.js';
import type { Model } from '../models/model.js';
import type { AuditEvent } from './audit/record.js';
import type { GatewayMetrics } from './plugins/metrics.js';
import type { DetectorVerdict, InputDefences } from './input-defences.js';

export interface GatewayContext {
  config: GatewayConfig;
  model: Model;
  batched: BatchedModel;
  modelId: string;
  modelVersion: string;
  keys: KeyStore;
  audit: AuditLog;
  /** Applies the signature policy (in-thread ImageVerifier or a VerifyPool of workers). */
  verifier: { check(body: Uint8Array, type: InputType): Promise<ImageCheck> };
  detector: QueryDetector | null;
  /** Config `defences` (already inside `batched`) and `detectors` (scored on the undefended `model`). */
  inputDefences: InputDefences;
  metrics: GatewayMetrics;
  /** Callers blocked by query-attack detection: caller → unblock time (ms). */
  blocked: Map<string, number>;
}

export interface Caller {
  id: string;
  role: Role;
  clientCert: string | null;
}

/** Audit fields gathered while a request runs; the audit plugin writes them in onSend. */
export interface RequestAudit {
  event?: AuditEvent;
  outcome?: number;
  reason?: string;
  userId?: string | null;
  check?: ImageCheck;
  decision?: string;
  flags: string[];
  /** Scores of the configured input detectors (config `detectors`), when they ran. */
  detectors?: DetectorVerdict[];
  /** The client's address, taken when the request arrived (a closed socket no longer has one). */
  sourceAddress: string | null;
  /** An answer was decided (reply.send called; set by the first onSend hook). */
  replied?: boolean;
  /** The client closed the connection before the answer was written. */
  gone?: boolean;
  /** This request's audit record is written or being written (exactly one per request). */
  recorded?: boolean;
}

/** Route options read by the plugins (`config` of a Fastify route). */
export interface RouteFlags {
  /** Roles allowed to call the route; absent = no authentication. */
  roles?: Role[];
  /** Write an audit record for every call (default true for /v1 routes). */
  audit?: boolean;
  /** Body is an image: check its signature, decode it, watch for query attacks (preHandlers). */
  image?: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller | null;
    auditCtx: RequestAudit;
    /** The decoded model input of an image route (set by the query-guard plugin). */
    modelInput: Float32Array | null;
  }
  interface FastifyContextConfig extends RouteFlags {}
}
