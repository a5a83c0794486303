/**
 * The dashboard (issue 23): a read-only Fastify app over the campaign results store and, with
 * `--gateway-config`, the gateway's audit store. Assembled like the gateway (src/gateway/server.ts): one
 * plugin per concern — security headers and API-key check (plugins/security.ts) → OpenAPI (@fastify/swagger,
 * document at /openapi.json) → the built front end (pages.ts) → one route plugin per view (routes/index.ts).
 *
 * Bound to 127.0.0.1 by default; on any other address every data request needs an API key of the
 * gateway's `auditor` (or `admin`) role, checked against the gateway's key store.
 */
import http from 'node:http';
import path from 'node:path';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import { MedshieldError, badArgument } from '../errors.js';
import { PACKAGE_ROOT, VERSION } from '../version.js';
import { KeyStore, type GatewayConfig } from '../gateway/index.js';
import type { DashboardContext, DashboardStore } from './context.js';
import securityPlugin from './plugins/security.js';
import { assetsRoute, loadUi } from './pages.js';
import { routes } from './routes/index.js';

export interface DashboardOptions {
  store?: DashboardStore | null;
  storeLabel?: string | null;
  gatewayConfig?: GatewayConfig | null;
  gatewayConfigPath?: string | null;
  /** Address the server will listen on; decides whether API keys are required. */
  host?: string;
  /** API keys file (default: the gateway configuration's auth.keysFile). Required beyond loopback. */
  keysFile?: string | null;
  /** Built front end (default PACKAGE_ROOT/dist/dashboard-ui). */
  uiDir?: string;
  modelsDir?: string;
  /** Live progress: how often the store is read, ms (default 1000). */
  pollMs?: number;
  /** Where pino writes (default: no request log). */
  logStream?: NodeJS.WritableStream;
  /** Extra script-src sources for the CSP (e.g. "'wasm-unsafe-eval'" for an in-browser model). */
  scriptExtra?: string[];
}

export interface Dashboard {
  app: FastifyInstance;
  ctx: DashboardContext;
  listen(port?: number): Promise<string>;
  close(): Promise<void>;
}

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Store URLs are shown in the page footer: drop any password. */
export function redactUrl(url: string): string {
  return url.replace(/^(\w+:\/\/[^:/@]+):[^@]*@/, '$1:***@');
}

function errorStatus(e: FastifyError | MedshieldError | Error): number {
  const s = (e as FastifyError).statusCode;
  if (typeof s === 'number' && s >= 400 && s < 600) return s;
  if (e instanceof MedshieldError)
    return e.code === 'NOT_FOUND'
      ? 404
      : e.code === 'BAD_INPUT' || e.code === 'BAD_ARGUMENT'
        ? 400
        : e.code === 'IO'
          ? 503
          : 500;
  return 500;
}

export async function createDashboard(opts: DashboardOptions = {}): Promise<Dashboard> {
  const host = opts.host ?? '127.0.0.1';
  const keysFile = opts.keysFile ?? opts.gatewayConfig?.auth.keysFile ?? null;
  if (!isLoopback(host) && !keysFile) {
    throw badArgument(
      `--host ${host} is reachable from other machines: give --gateway-config ` +
        `(its auth.keysFile holds the auditor keys) or --keys FILE`,
    );
  }
  const ctx: DashboardContext = {
    store: opts.store ?? null,
    storeLabel: opts.storeLabel ? redactUrl(opts.storeLabel) : null,
    gatewayConfig: opts.gatewayConfig ?? null,
    gatewayConfigPath: opts.gatewayConfigPath ?? null,
    modelsDir: opts.modelsDir ?? path.join(PACKAGE_ROOT, 'models'),
    uiDir: opts.uiDir ?? path.join(PACKAGE_ROOT, 'dist', 'dashboard-ui'),
    pollMs: opts.pollMs ?? 1000,
  };
  loadUi(ctx.uiDir); // not built → stop here with a one-line error
  // Beyond loopback every data request is authenticated; on loopback too when a keys file was given explicitly.
  const keys = !isLoopback(host) || opts.keysFile ? new KeyStore(keysFile!) : null;
  const app = Fastify({
    logger: opts.logStream
      ? ({
          level: 'info',
          stream: opts.logStream,
          redact: { paths: ['req.headers.authorization'], remove: true },
        } as never)
      : false,
    trustProxy: false,
    bodyLimit: 1024,
    forceCloseConnections: true,
    ajv: { customOptions: { coerceTypes: true, removeAdditional: false } },
  });
  app.setErrorHandler((err: FastifyError, req, reply) => {
    const status = errorStatus(err);
    const message = status >= 500 && status !== 503 ? 'internal error' : err.message;
    if (status >= 500) req.log.error({ err: { message: err.message, code: err.code } }, 'request failed');
    reply.code(status).send({ statusCode: status, error: http.STATUS_CODES[status] ?? 'Error', message });
  });
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({
      statusCode: 404,
      error: 'Not Found',
      message: `no route ${req.method} ${req.url.split('?')[0].slice(0, 120)}`,
    });
  });
  await app.register(securityPlugin, {
    keys,
    scriptExtra: opts.scriptExtra,
    isPublic: (url) => !url.startsWith('/api/') && url !== '/openapi.json',
  });
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'medshield dashboard',
        version: VERSION,
        description:
          'Read-only JSON API of the medshield dashboard: campaigns, models, ' +
          'scorecards and per-sample gallery from the campaign results store.',
      },
      components: {
        securitySchemes: {
          bearerAuth: {
            type: 'http',
            scheme: 'bearer',
            description:
              'API key msk_<id>_<secret> with the auditor role (required when the dashboard listens beyond loopback)',
          },
        },
      },
      tags: [
        { name: 'campaigns' },
        { name: 'models' },
        { name: 'scorecard' },
        { name: 'gallery' },
        { name: 'operations' },
      ],
    },
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  app.get(
    '/api/health',
    {
      schema: {
        summary: 'Health check',
        tags: ['operations'],
        response: {
          200: {
            type: 'object',
            properties: {
              status: { type: 'string' },
              version: { type: 'string' },
              store: { type: 'string', nullable: true },
              gateway: { type: 'boolean' },
            },
          },
        },
      },
    },
    async () => ({ status: 'ok', version: VERSION, store: ctx.storeLabel, gateway: !!ctx.gatewayConfig }),
  );
  await app.register(assetsRoute, { ctx });
  for (const r of routes) await app.register(r, { ctx });
  await app.ready();

  let closed: Promise<void> | null = null;
  return {
    app,
    ctx,
    async listen(port = 8080) {
      const addr = await app.listen({ port, host });
      return addr.replace('[::1]', 'localhost');
    },
    close() {
      closed ??= app.close();
      return closed;
    },
  };
}
