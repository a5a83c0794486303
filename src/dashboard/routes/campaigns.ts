/**
 * View 2, campaigns: the list ('/') and a campaign's page ('/campaigns/:id') — status, live progress
 * (server-sent events: the store is read every pollMs and the status object sent when it changed; the
 * stream ends when the campaign is done or failed), robustness curves, the per-attack table, the report.
 */
import type { FastifyInstance } from 'fastify';
import { campaignReportHtml, type CampaignStatus } from '../../api/campaign/index.js';
import type { DashboardContext } from '../context.js';
import { campaign, campaigns, failures, queryCurve } from '../data.js';
import { page } from '../pages.js';
import { CAMPAIGN_STATUS, CAMPAIGN_SUMMARY, FAILURES, ID_PARAMS, QUERY_CURVE } from '../schemas.js';

/** Server-sent events stay open at most this long (the page reconnects by reloading). */
const SSE_MAX_MS = 6 * 60 * 60 * 1000;

export default async function campaignsRoutes(app: FastifyInstance, opts: { ctx: DashboardContext }): Promise<void> {
  const { ctx } = opts;
  let closing = false;
  app.addHook('onClose', async () => {
    closing = true;
  });
  page(app, ctx, '/');
  page(app, ctx, '/campaigns/:id');
  app.get(
    '/api/campaigns',
    {
      schema: {
        summary: 'Campaigns in the store',
        tags: ['campaigns'],
        response: { 200: { type: 'array', items: CAMPAIGN_SUMMARY } },
      },
    },
    async () => campaigns(ctx.store),
  );
  app.get(
    '/api/campaigns/:id',
    {
      schema: {
        summary: "A campaign's status object (as `campaign status --json`)",
        tags: ['campaigns'],
        params: ID_PARAMS,
        response: { 200: CAMPAIGN_STATUS },
      },
    },
    async (req) => campaign(ctx.store, (req.params as { id: string }).id),
  );
  app.get(
    '/api/campaigns/:id/failures',
    {
      schema: {
        summary: 'Failed jobs of a campaign (no result stored): job key, error, attempts',
        tags: ['campaigns'],
        params: ID_PARAMS,
        response: { 200: FAILURES },
      },
    },
    async (req) => failures(ctx.store, (req.params as { id: string }).id),
  );
  app.get(
    '/api/campaigns/:id/query-curve',
    {
      schema: {
        summary: 'Black-box attacks: accuracy vs query budget (from per-sample query counts)',
        tags: ['campaigns'],
        params: ID_PARAMS,
        response: { 200: QUERY_CURVE },
      },
    },
    async (req) => {
      await campaign(ctx.store, (req.params as { id: string }).id);
      return queryCurve(ctx.store, (req.params as { id: string }).id);
    },
  );
  app.get(
    '/api/campaigns/:id/report',
    {
      schema: {
        summary: "The campaign's HTML report (self-contained, no scripts)",
        tags: ['campaigns'],
        params: ID_PARAMS,
        produces: ['text/html'],
      },
    },
    async (req, reply) => {
      const id = (req.params as { id: string }).id;
      await campaign(ctx.store, id);
      const html = await campaignReportHtml(ctx.store!, id, { command: `medshield campaign report ${id}` });
      // The report (the same as `campaign report`) is one self-contained file: inline styles and SVG, data: images, no
      // script.
      reply.header(
        'content-security-policy',
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; " +
          "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
      );
      return reply.type('text/html; charset=utf-8').send(html);
    },
  );
  app.get(
    '/api/campaigns/:id/events',
    {
      schema: {
        summary:
          'Live progress: server-sent events `status` (the status object) ' +
          'whenever it changes; ends when the campaign is done or failed',
        tags: ['campaigns'],
        params: ID_PARAMS,
        produces: ['text/event-stream'],
      },
    },
    async (req, reply) => {
      const id = (req.params as { id: string }).id;
      let status: CampaignStatus = await campaign(ctx.store, id);
      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, {
        ...(reply.getHeaders() as Record<string, string>),
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      let last = '';
      let open = true;
      const t0 = Date.now();
      let lastWrite = Date.now();
      req.raw.on('close', () => {
        open = false;
      });
      const send = (s: CampaignStatus): void => {
        const json = JSON.stringify(s);
        if (json === last) return;
        last = json;
        lastWrite = Date.now();
        raw.write(`event: status\ndata: ${json}\n\n`);
      };
      send(status);
      while (
        open &&
        (status.status === 'running' || status.status === 'planned') &&
        Date.now() - t0 < SSE_MAX_MS &&
        !closing
      ) {
        await new Promise((r) => setTimeout(r, ctx.pollMs));
        if (!open) break;
        try {
          status = await campaign(ctx.store, id);
        } catch (e) {
          raw.write(`event: error\ndata: ${JSON.stringify({ message: (e as Error).message.split('\n')[0] })}\n\n`);
          break;
        }
        send(status);
        if (Date.now() - lastWrite > 15000) {
          raw.write(': keep-alive\n\n');
          lastWrite = Date.now();
        }
      }
      if (open) {
        raw.write('event: end\ndata: {}\n\n');
        raw.end();
      }
    },
  );
}
