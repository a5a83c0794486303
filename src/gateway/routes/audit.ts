/**
 * GET /v1/audit?since=ISO-TIME|after=SEQ&limit=N (auditor, admin) — read the audit log;
 * GET /v1/audit/verify (auditor, admin) — check the whole hash chain and the gateway's signatures.
 * Reads are themselves audited (event Query, action R).
 */
import type { FastifyInstance } from 'fastify';
import type { KeyObject } from 'node:crypto';
import { verifyChain } from '../audit/verify.js';
import { RECORD_COLUMNS } from '../audit/record.js';
import type { GatewayContext } from '../context.js';
import { ERROR_RESPONSE } from './infer.js';

const nullable = (t: string) => ({ type: [t, 'null'] });
const RECORD_SCHEMA = {
  type: 'object',
  properties: Object.fromEntries(
    RECORD_COLUMNS.map((c) => [
      c,
      ['seq', 'outcome'].includes(c)
        ? { type: 'integer' }
        : c === 'status'
          ? nullable('integer')
          : ['prevHash', 'hash', 'event', 'action', 'time', 'flags'].includes(c)
            ? { type: 'string' }
            : nullable('string'),
    ]),
  ),
} as const;

export const CHAIN_REPORT_SCHEMA = {
  type: 'object',
  properties: {
    valid: { type: 'boolean' },
    records: { type: 'integer' },
    signatures: { type: 'integer' },
    signaturesChecked: { type: 'boolean' },
    headSeq: { type: 'integer' },
    headHash: { type: 'string' },
    checkpointSeq: { type: ['integer', 'null'] },
    firstBroken: { type: ['object', 'null'], properties: { seq: { type: 'integer' }, reason: { type: 'string' } } },
  },
} as const;

export default async function auditRoutes(
  app: FastifyInstance,
  opts: { ctx: GatewayContext; publicKey: KeyObject | null; checkpoint: string | null },
): Promise<void> {
  const { audit } = opts.ctx;
  app.get<{ Querystring: { since?: string; after?: number; limit: number } }>(
    '/v1/audit',
    {
      config: { roles: ['auditor', 'admin'] },
      schema: {
        summary: 'Read audit records',
        tags: ['audit'],
        security: [{ bearerAuth: [] }],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            since: { type: 'string', format: 'date-time', description: 'records at or after this time (ISO 8601)' },
            after: { type: 'integer', minimum: 0, description: 'records with seq greater than this' },
            limit: { type: 'integer', minimum: 1, maximum: 10000, default: 1000 },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: { records: { type: 'array', items: RECORD_SCHEMA }, headSeq: { type: 'integer' } },
          },
          400: ERROR_RESPONSE,
          401: ERROR_RESPONSE,
          403: ERROR_RESPONSE,
        },
      },
    },
    async (req) => {
      req.auditCtx.event = 'Query';
      await audit.flush();
      const q = req.query;
      const records =
        q.since !== undefined
          ? await audit.store.since(new Date(q.since).toISOString(), q.limit)
          : await audit.store.page(q.after ?? 0, q.limit);
      return { records, headSeq: audit.headSeq };
    },
  );

  app.get(
    '/v1/audit/verify',
    {
      config: { roles: ['auditor', 'admin'] },
      schema: {
        summary: 'Check the audit hash chain and gateway signatures',
        tags: ['audit'],
        security: [{ bearerAuth: [] }],
        response: { 200: CHAIN_REPORT_SCHEMA, 401: ERROR_RESPONSE, 403: ERROR_RESPONSE },
      },
    },
    async (req) => {
      req.auditCtx.event = 'Query';
      await audit.flush();
      return verifyChain(audit.store, opts.publicKey, {
        signEvery: opts.ctx.config.audit.signEvery,
        checkpoint: opts.checkpoint,
        live: true,
      });
    },
  );
}
