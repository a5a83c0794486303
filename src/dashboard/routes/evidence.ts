/**
 * View 6, the evidence bundle ('/evidence/:id'): what goes into a campaign's bundle and a button that downloads
 * it from GET /api/campaigns/:id/evidence.zip (src/api/evidence.ts: reports, model cards, spec, SBOM, the
 * gateway's threat model and, with --gateway-config, the audit log's verification; manifest of SHA-256 hashes).
 * The manifest is signed only when the operator gives the dashboard a signing key explicitly
 * (MEDSHIELD_EVIDENCE_KEY + MEDSHIELD_EVIDENCE_CERT, PEM files): the dashboard holds no key otherwise, and the
 * page says how to sign with `medshield evidence --key --cert`. It never signs anything a client sends.
 */
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { DashboardContext } from '../context.js';
import { page } from '../pages.js';
import { buildEvidence, type EvidenceSigner } from '../../api/evidence.js';
import { loadSigner } from '../../api/provenance.js';
import { verifyGatewayAudit } from '../../gateway/index.js';
import { badArgument, notFound } from '../../errors.js';

function evidenceSigner(env: NodeJS.ProcessEnv = process.env): { signer: EvidenceSigner; subject: string } | null {
  const k = env.MEDSHIELD_EVIDENCE_KEY;
  const c = env.MEDSHIELD_EVIDENCE_CERT;
  if (!k && !c) return null;
  if (!k || !c) throw badArgument('MEDSHIELD_EVIDENCE_KEY and MEDSHIELD_EVIDENCE_CERT go together');
  const s = loadSigner(readFileSync(k), readFileSync(c));
  return { signer: { key: s.key, chain: [s.certDer] }, subject: s.cert.subject.split('\n').join(', ') };
}

export default async function evidenceRoutes(app: FastifyInstance, opts: { ctx: DashboardContext }): Promise<void> {
  const ctx = opts.ctx;
  const signer = evidenceSigner(); // read once at start-up: a bad key stops the dashboard with one line
  page(app, ctx, '/evidence/:id');
  app.get(
    '/api/evidence',
    {
      schema: {
        summary: 'How evidence bundles are made here: signer (if any), gateway audit included',
        tags: ['campaigns'],
      },
    },
    async () => ({ signer: signer?.subject ?? null, gateway: !!ctx.gatewayConfig }),
  );
  app.get<{ Params: { id: string }; Querystring: { sbom?: string } }>(
    '/api/campaigns/:id/evidence.zip',
    {
      schema: {
        summary:
          'Evidence bundle of a campaign (zip with a manifest of ' +
          'SHA-256 hashes, signed when the dashboard has a signing key)',
        tags: ['campaigns'],
      },
    },
    async (req, reply) => {
      if (!ctx.store) throw notFound('no results store: start the dashboard with --store URL');
      const audit =
        ctx.gatewayConfig && ctx.gatewayConfigPath
          ? await verifyGatewayAudit(ctx.gatewayConfig, ctx.gatewayConfigPath, { live: true }).catch((e: Error) => ({
              valid: false,
              error: e.message,
            }))
          : undefined;
      const { zip } = await buildEvidence(ctx.store, req.params.id, {
        signer: signer?.signer ?? null,
        sbom: req.query.sbom !== '0',
        audit,
        command: 'medshield dashboard (evidence button)',
      });
      const name = req.params.id.replace(/[^A-Za-z0-9._-]/g, '_');
      return reply
        .type('application/zip')
        .header('content-disposition', `attachment; filename="evidence-${name}.zip"`)
        .send(Buffer.from(zip));
    },
  );
}
