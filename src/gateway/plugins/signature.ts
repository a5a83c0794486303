/**
 * Verify-before-infer (Amit et al.: harden the system around the model). For image routes, the body's
 * DICOM PS3.15 signatures are checked against the configured trust store and policy BEFORE anything is
 * decoded for the model; an unsigned, tampered or untrusted image is answered 422 with the reason,
 * audited as a SecurityAlert, and never reaches the model. The verifier also decodes the image from the
 * parse it verified, by Content-Type (no sniffing); only that decoded image goes on to the model.
 */
import fp from 'fastify-plugin';
import { addStage, addStages, nowMs } from '../timing.js';
import type { FastifyInstance } from 'fastify';
import type { GatewayContext } from '../context.js';
import type { InputType } from '../config.js';
import type { DecodedImage } from '../../data/decoded.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The image decoded from the very bytes (and parse) that were verified; the model sees only this. */
    verifiedImage?: DecodedImage;
  }
}

async function signaturePlugin(app: FastifyInstance, opts: { ctx: GatewayContext }): Promise<void> {
  const { verifier, metrics } = opts.ctx;
  app.addHook('preHandler', async (req, reply) => {
    if (!req.routeOptions.config?.image) return;
    const type = String(req.headers['content-type'] ?? '')
      .split(';')[0]
      .trim()
      .toLowerCase() as InputType;
    const t0 = nowMs();
    const { image, decodeError, timing, ...check } = await verifier.check(req.body as Buffer, type);
    addStages(req, timing);
    // With signature.workers > 0 the hand-off to the verification worker counts as verification time.
    const inner = Object.values(timing ?? {}).reduce((a, b) => a + b, 0);
    addStage(req, 'verify', Math.max(0, nowMs() - t0 - inner));
    req.auditCtx.check = check;
    if (!check.valid) {
      metrics.signatureRejections.inc();
      req.auditCtx.reason = check.reason;
      req.auditCtx.event = 'SecurityAlert';
      return reply.code(422).send({
        statusCode: 422,
        error: 'Unprocessable Entity',
        message: `image refused: ${check.reason}`,
        requestId: req.id,
      });
    }
    if (decodeError || !image) {
      const status = decodeError?.status ?? 400;
      req.auditCtx.reason = `cannot decode image: ${decodeError?.message ?? 'no image'}`;
      return reply.code(status).send({
        statusCode: status,
        error: status === 413 ? 'Payload Too Large' : 'Bad Request',
        message: req.auditCtx.reason,
        requestId: req.id,
      });
    }
    req.verifiedImage = image;
  });
}

export default fp(signaturePlugin, { name: 'medshield-signature', fastify: '5.x', dependencies: ['medshield-audit'] });
