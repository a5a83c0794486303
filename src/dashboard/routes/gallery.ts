/**
 * View 4, gallery ('/gallery/:id'): per-sample records, filtered and paginated in the store, and their
 * clean / adversarial / amplified-difference PNGs (8-bit model inputs, no patient identifiers).
 */
import type { FastifyInstance } from 'fastify';
import { sampleImages } from '../../api/campaign/index.js';
import { notFound } from '../../errors.js';
import type { DashboardContext } from '../context.js';
import { samples, type SampleQueryText } from '../data.js';
import { page } from '../pages.js';
import { SAMPLE_PAGE, SAMPLE_QUERY } from '../schemas.js';

export default async function galleryRoutes(app: FastifyInstance, opts: { ctx: DashboardContext }): Promise<void> {
  const { ctx } = opts;
  page(app, ctx, '/gallery/:id');
  app.get(
    '/api/campaigns/:id/samples',
    {
      schema: {
        summary:
          'Per-sample records, filtered (model, attack, eps, flipped, label) and paginated (offset, limit ≤ 200)',
        tags: ['gallery'],
        querystring: SAMPLE_QUERY,
        response: { 200: SAMPLE_PAGE },
        params: {
          type: 'object',
          required: ['id'],
          properties: { id: { type: 'string', minLength: 1, maxLength: 200 } },
        },
      },
    },
    async (req) => samples(ctx.store, (req.params as { id: string }).id, req.query as SampleQueryText),
  );
  app.get(
    '/api/campaigns/:id/samples/:key/:image',
    {
      schema: {
        summary:
          "A sample's image: clean.png, adversarial.png or " +
          'difference.png (0.5 + (adversarial − clean) × amplification)',
        tags: ['gallery'],
        produces: ['image/png'],
        params: {
          type: 'object',
          required: ['id', 'key', 'image'],
          properties: {
            id: { type: 'string', minLength: 1, maxLength: 200 },
            key: { type: 'string', minLength: 1, maxLength: 300 },
            image: { type: 'string', enum: ['clean.png', 'adversarial.png', 'difference.png'] },
          },
        },
      },
    },
    async (req, reply) => {
      const { id, key, image } = req.params as {
        id: string;
        key: string;
        image: 'clean.png' | 'adversarial.png' | 'difference.png';
      };
      if (!ctx.store)
        throw notFound(`no campaign '${id.slice(0, 80)}': the dashboard runs without a results store (--store)`);
      const imgs = await sampleImages(ctx.store, id, key);
      if (!imgs) throw notFound(`no images for sample '${key.slice(0, 80)}' in campaign '${id.slice(0, 80)}'`);
      const body =
        image === 'clean.png' ? imgs.clean : image === 'adversarial.png' ? imgs.adversarial : imgs.difference;
      return reply.type('image/png').header('cache-control', 'private, max-age=3600').send(body);
    },
  );
}
