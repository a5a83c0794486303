/**
 * Prometheus metrics (prom-client) on a registry owned by this gateway instance: request counts and
 * latency by route and status, signature rejections, query-attack verdicts, audit writes; plus the
 * Node process defaults. Served at GET /metrics in the Prometheus text format.
 */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'medshield_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['route', 'status'] as const,
    registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: 'medshield_request_duration_seconds',
    help: 'request latency by route',
    labelNames: ['route'] as const,
    buckets: [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5],
    registers: [this.registry],
  });
  readonly signatureRejections = new Counter({
    name: 'medshield_signature_rejections_total',
    help: 'images refused by the signature policy (422)',
    registers: [this.registry],
  });
  readonly queryVerdicts = new Counter({
    name: 'medshield_query_detection_total',
    help: 'queries seen by the query-attack detector by verdict',
    labelNames: ['verdict'] as const,
    registers: [this.registry],
  });
  readonly inputDetections = new Counter({
    name: 'medshield_input_detector_total',
    help: 'images scored by the configured input detectors, by detector and verdict (clean, flag, reject)',
    labelNames: ['detector', 'verdict'] as const,
    registers: [this.registry],
  });
  readonly auditRecords = new Counter({
    name: 'medshield_audit_records_total',
    help: 'audit records written',
    labelNames: ['event'] as const,
    registers: [this.registry],
  });
  readonly stages = new Histogram({
    name: 'medshield_gateway_stage_seconds',
    help:
      'time per request stage of /v1/infer (auth, receive, hash, ' +
      'parse, verify, decode, screen, queue, model, answer, audit)',
    labelNames: ['stage'] as const,
    buckets: [0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1],
    registers: [this.registry],
  });
  readonly auditHead = new Gauge({
    name: 'medshield_audit_head_seq',
    help: 'sequence number of the newest audit record',
    registers: [this.registry],
  });
  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'medshield_' });
  }
}

async function metricsPlugin(app: FastifyInstance, opts: { metrics: GatewayMetrics }): Promise<void> {
  const m = opts.metrics;
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    m.requests.inc({ route, status: String(reply.statusCode) });
    m.latency.observe({ route }, reply.elapsedTime / 1000);
  });
  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics',
        tags: ['operations'],
        response: { 200: { type: 'string', description: 'Prometheus text exposition format' } },
      },
      config: { audit: false },
    },
    async (_req, reply) => {
      reply.header('content-type', m.registry.contentType);
      return m.registry.metrics();
    },
  );
}

export default fp(metricsPlugin, { name: 'medshield-metrics', fastify: '5.x' });
