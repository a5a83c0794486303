/**
 * Build and run the gateway: a Fastify app assembled from one plugin per concern, in request order —
 * metrics → audit (writes each record before the response) → per-address rate limit → authentication →
 * per-key rate limit → signature check → query guard → route. Routes carry JSON schemas, which also
 * make the OpenAPI document (@fastify/swagger; UI at /docs via @fastify/swagger-ui).
 *
 * The HTTP(S) server is made here (serverFactory) so its slow-client timeouts are ours: headersTimeout,
 * requestTimeout (whole request, checked every second: slow-loris bodies are cut off), keepAliveTimeout.
 * Logs are pino JSON lines; request logs carry method, URL, status and timing, never bodies or headers.
 */
import http from 'node:http';
import https from 'node:https';
import { randomUUID, createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Socket } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyError } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { MedshieldError } from '../errors.js';
import { VERSION } from '../version.js';
import { loadModel, modelWeightFiles, resolveModelPath } from '../models/io.js';
import type { Model } from '../models/model.js';
import { auditCheckpointFile, type GatewayConfig } from './config.js';
import { KeyStore } from './keys.js';
import { AuditLog } from './audit/log.js';
import { openAuditStore } from './audit/store.js';
import { OUTCOME } from './audit/record.js';
import { ImageVerifier } from './image-check.js';
import { VerifyPool } from './verify-pool.js';
import { QueryDetector } from './query-detector.js';
import { BatchedModel } from './inference.js';
import { loadInputDefences } from './input-defences.js';
import type { GatewayContext } from './context.js';
import { answerSigner } from './signed-answer.js';
import metricsPlugin, { GatewayMetrics } from './plugins/metrics.js';
import auditPlugin from './plugins/audit.js';
import authPlugin from './plugins/auth.js';
import { ipRateLimit, keyRateLimit } from './plugins/rate-limit.js';
import signaturePlugin from './plugins/signature.js';
import queryGuardPlugin, { loadBlocks } from './plugins/query-guard.js';
import timingPlugin from './plugins/timing.js';
import inferRoute from './routes/infer.js';
import auditRoutes from './routes/audit.js';
import healthRoute from './routes/health.js';
import { requestInProgress } from './lifecycle.js';
import { requestLogLine } from './redact.js';

export interface GatewayOptions {
  /** An already loaded model (tests, benchmarks); otherwise config.model is loaded. */
  model?: Model;
  /** Where pino writes (default stderr). */
  logStream?: NodeJS.WritableStream;
}

export interface Gateway {
  app: FastifyInstance;
  ctx: GatewayContext;
  /** Listen; returns the base URL. */
  listen(port?: number, host?: string): Promise<string>;
  /** Graceful stop: refuse new connections, finish in-flight requests, sign and flush the audit log. */
  close(): Promise<void>;
}

/**
 * Model version for audit records: SHA-256 (first 16 hex) of the weights (all shards, in manifest order) or the .onnx
 * file.
 */
function modelVersion(spec: string): string {
  const p = resolveModelPath(spec);
  const files =
    existsSync(p) && statSync(p).isFile()
      ? [p]
      : existsSync(path.join(p, 'model.json'))
        ? modelWeightFiles(p)
        : [path.join(p, 'model.onnx')].filter((x) => existsSync(x));
  if (!files.length) return 'unknown';
  const h = createHash('sha256');
  for (const f of files) h.update(readFileSync(f));
  return 'sha256:' + h.digest('hex').slice(0, 16);
}

function errorStatus(e: FastifyError | MedshieldError | Error): number {
  const s = (e as FastifyError).statusCode;
  if (typeof s === 'number' && s >= 400 && s < 600) return s;
  if (e instanceof MedshieldError)
    return e.code === 'BAD_INPUT' || e.code === 'BAD_ARGUMENT' ? 400 : e.code === 'IO' ? 503 : 500;
  return 500;
}

export async function createGateway(config: GatewayConfig, opts: GatewayOptions = {}): Promise<Gateway> {
  // A served model must have a card that binds its weights (hash + classes); older unhashed cards are refused.
  const model = opts.model ?? (await loadModel(config.model, { requireWeightsHash: true }));
  // Before anything is opened: a bad defence spec or a detector for another model stops start-up here.
  const inputDefences = await loadInputDefences(config, model);
  const metrics = new GatewayMetrics();
  let signer: { key: KeyObject; subject: string } | null = null;
  let publicKey: KeyObject | null = null;
  if (config.audit.signingKey && config.audit.signingCert) {
    const certPem = readFileSync(config.audit.signingCert, 'utf8');
    const { X509Certificate } = await import('node:crypto');
    const cert = new X509Certificate(certPem);
    signer = {
      key: createPrivateKey(readFileSync(config.audit.signingKey)),
      subject: cert.subject.split('\n').join(', '),
    };
    publicKey = createPublicKey(cert.publicKey.export({ type: 'spki', format: 'pem' }));
  }
  answerSigner(config); // the key that signs answers (signed-answer.ts): unusable → stop here, not at the first request
  const store = await openAuditStore(config.audit.url);
  const checkpoint = signer ? auditCheckpointFile(config.audit) : null;
  let audit: AuditLog;
  try {
    audit = await AuditLog.open(store, {
      signEvery: config.audit.signEvery,
      signIntervalSeconds: config.audit.signIntervalSeconds,
      signer,
      checkpoint,
    });
  } catch (e) {
    await store.close().catch(() => undefined);
    throw e;
  }
  const qd = config.queryDetection;
  const ctx: GatewayContext = {
    config,
    model,
    batched: new BatchedModel(inputDefences.served),
    inputDefences,
    modelId: model.card.name,
    modelVersion: model.card.weights
      ? `sha256:${model.card.weights.sha256}`
      : opts.model
        ? 'in-process'
        : modelVersion(config.model),
    keys: new KeyStore(config.auth.keysFile),
    audit,
    verifier:
      config.signature.workers > 0
        ? new VerifyPool(config.signature, config.signature.workers, config.inputs)
        : new ImageVerifier(config.signature, config.inputs),
    detector: qd.enabled
      ? new QueryDetector({
          quantStep: qd.quantStep,
          windowSize: qd.windowSize,
          topK: qd.topK,
          matchThreshold: qd.matchThreshold,
          history: qd.history,
          alertFraction: qd.alertFraction,
          alertWindow: qd.alertWindow,
        })
      : null,
    metrics,
    blocked: new Map(),
  };
  // Query-attack blocks live in the audit store, so a restart does not lift them.
  if (qd.enabled && qd.action === 'block') ctx.blocked = await loadBlocks(ctx);

  const t = config.timeouts;
  const tls =
    config.tls.cert && config.tls.key
      ? {
          cert: readFileSync(config.tls.cert),
          key: readFileSync(config.tls.key),
          ...(config.tls.clientCa
            ? { ca: readFileSync(config.tls.clientCa), requestCert: true, rejectUnauthorized: false }
            : {}),
        }
      : null;
  // Connection-level errors (lifecycle.ts): bytes that never became a request get one record; a request still being
  // received on that connection records itself (499/408) when its connection closes.
  let stopping = false;
  const onClientError = (err: Error & { code?: string }, socket: Socket): void => {
    const code = err.code ?? 'ERR';
    const status = code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    if (!stopping && code !== 'ECONNRESET' && code !== 'EPIPE' && !requestInProgress(socket)) {
      const reason =
        status === 408
          ? `request not received within timeouts (headers ` +
            `${Math.min(t.headersMs, t.requestMs)} ms, whole request ${t.requestMs} ms)`
          : code === 'HPE_INVALID_EOF_STATE'
            ? 'connection closed in the middle of a request line or headers'
            : `malformed HTTP request (${code})`;
      audit
        .append({
          event: 'SecurityAlert',
          outcome: OUTCOME.minorFailure,
          action: 'E',
          sourceAddress: socket.remoteAddress ?? null,
          route: 'connection',
          status,
          reason,
        })
        .catch((e) => app.log.error({ err: { message: (e as Error).message } }, 'audit write failed'));
    }
    if (socket.destroyed) return;
    // Answer only when no response is under way on this connection (a raw write would be read as that response).
    if (socket.writable && !(socket as Socket & { _httpMessage?: unknown })._httpMessage) {
      const body = JSON.stringify({
        statusCode: status,
        error: http.STATUS_CODES[status],
        message: status === 408 ? 'request timeout' : 'malformed HTTP request',
      });
      socket.write(
        `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: ` +
          `${Buffer.byteLength(body)}\r\nContent-Type: application/json\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  };
  const serverOpts = {
    requestTimeout: t.requestMs,
    headersTimeout: Math.min(t.headersMs, t.requestMs),
    keepAliveTimeout: t.keepAliveMs,
    connectionsCheckingInterval: 500,
  };
  const app = Fastify({
    logger: {
      level: config.logging.level,
      redact: {
        paths: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-api-key"]', 'req.body'],
        remove: true,
      },
      serializers: { req: requestLogLine },
      stream: opts.logStream ?? process.stderr,
    } as never,
    genReqId: () => randomUUID(),
    clientErrorHandler: (err: Error & { code?: string }, socket: Socket) => onClientError(err, socket),
    requestIdHeader: false,
    bodyLimit: config.inputs.bodyLimitBytes,
    forceCloseConnections: 'idle',
    trustProxy: false,
    serverFactory: (handler) => {
      const s = tls ? https.createServer({ ...tls, ...serverOpts }, handler) : http.createServer(serverOpts, handler);
      return s as http.Server;
    },
    ajv: { customOptions: { coerceTypes: true, removeAdditional: false } },
  });
  // The first onSend hook, run synchronously inside reply.send: from here on the answer is decided (lifecycle.ts).
  app.addHook('onSend', async (req, reply, payload) => {
    if (req.auditCtx) req.auditCtx.replied = true;
    reply.header('x-request-id', req.id);
    return payload;
  });
  app.setErrorHandler((err: FastifyError, req, reply) => {
    const status = errorStatus(err);
    let message = status >= 500 && status !== 503 ? 'internal error' : err.message;
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
      message =
        `Content-Type '${String(req.headers['content-type'] ?? '(none)').slice(0, 80)}` +
        `' is not accepted (accepted: ${config.inputs.contentTypes.join(', ')})`;
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
      message = `body larger than inputs.bodyLimitBytes (${config.inputs.bodyLimitBytes} bytes)`;
    if (err.code === 'FST_ERR_CTP_EMPTY_TYPE')
      message = `missing Content-Type (accepted: ${config.inputs.contentTypes.join(', ')})`;
    if (status >= 500) req.log.error({ err: { message: err.message, code: err.code } }, 'request failed');
    if (req.auditCtx) req.auditCtx.reason ??= err.message;
    reply
      .code(status)
      .send({ statusCode: status, error: http.STATUS_CODES[status] ?? 'Error', message, requestId: req.id });
  });
  app.setNotFoundHandler((req, reply) => {
    if (req.auditCtx) req.auditCtx.reason = 'no such route';
    reply.code(404).send({
      statusCode: 404,
      error: 'Not Found',
      message: `no route ${req.method} ${req.url.split('?')[0]}`,
      requestId: req.id,
    });
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'medshield inference gateway',
        version: VERSION,
        description:
          'Verify-before-infer gateway for medical-image classifiers: signed images only, ' +
          'authenticated and rate-limited callers, query-attack detection, hash-chained audit log.',
      },
      components: {
        securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'API key msk_<id>_<secret>' } },
      },
      tags: [{ name: 'inference' }, { name: 'audit' }, { name: 'operations' }],
    },
    transform: ({ schema, url }) => {
      if (url === '/v1/infer' && schema)
        return {
          schema: { ...schema, body: { type: 'string', format: 'binary', description: 'the raw image file' } } as never,
          url,
        };
      return { schema: schema as never, url };
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true }, config: { audit: false } }, async () => app.swagger());

  await app.register(metricsPlugin, { metrics });
  await app.register(auditPlugin, { ctx });
  await app.register(ipRateLimit, { ctx });
  await app.register(authPlugin, { ctx });
  await app.register(keyRateLimit, { ctx });
  await app.register(signaturePlugin, { ctx });
  await app.register(queryGuardPlugin, { ctx });
  await app.register(timingPlugin, { ctx });
  await app.register(healthRoute, { ctx });
  await app.register(auditRoutes, { ctx, publicKey, checkpoint });
  await app.register(inferRoute, { ctx });
  await app.ready();
  const detectorList = inputDefences.detectors.map((d) => `${d.label}>${d.threshold}:${d.action}`).join(' ');
  await audit.append({
    event: 'ApplicationActivity',
    outcome: OUTCOME.success,
    action: 'E',
    reason:
      `gateway started (model ${ctx.modelId}@${ctx.modelVersion}, audit ${store.kind}` +
      `${config.defences.length ? `, defences ${config.defences.join(' ; ')}` : ''}` +
      `${inputDefences.detectors.length ? `, detectors ${detectorList}` : ''})`,
  });

  let closed: Promise<void> | null = null;
  return {
    app,
    ctx,
    async listen(port = config.listen.port, host = config.listen.host) {
      const addr = await app.listen({ port, host });
      // serverFactory hides the TLS server from Fastify, which then reports http://.
      return (tls ? addr.replace(/^http:/, 'https:') : addr).replace('[::1]', 'localhost');
    },
    close() {
      closed ??= (async () => {
        stopping = true;
        const timer = setTimeout(() => app.server.closeAllConnections?.(), config.timeouts.shutdownMs);
        try {
          await app.close();
        } finally {
          clearTimeout(timer);
        }
        await audit
          .append({ event: 'ApplicationActivity', outcome: OUTCOME.success, action: 'E', reason: 'gateway stopped' })
          .catch(() => undefined);
        await audit.close();
        if (ctx.verifier instanceof VerifyPool) await ctx.verifier.close();
      })();
      return closed;
    },
  };
}
