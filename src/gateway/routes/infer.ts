/**
 * POST /v1/infer — the body is the raw image (Content-Type application/dicom, or image/png|jpeg when the
 * policy allows). By the time the handler runs, the auth, rate-limit, signature and query-guard plugins
 * have passed it; the handler scores the image with the configured input detectors (`reject` → 422
 * naming the detector, no prediction; `flag` → `{detector, score}` in `flags`), runs the (defended)
 * model, micro-batched, and applies the output policy.
 */
import type { FastifyInstance } from 'fastify';
import { MedshieldError } from '../../errors.js';
import { applyOutputPolicy } from '../inference.js';
import { OUTCOME } from '../audit/record.js';
import { screenInput, type DetectorVerdict } from '../input-defences.js';
import type { GatewayContext } from '../context.js';
import { afterSettled, gate, settled } from '../lifecycle.js';
import { sendAnswer } from '../signed-answer.js';
import { addStage, nowMs } from '../timing.js';

export const INFER_RESPONSE = {
  type: 'object',
  required: ['requestId', 'label', 'className', 'signature', 'flags'],
  properties: {
    requestId: { type: 'string' },
    label: { type: 'integer', description: 'index of the predicted class' },
    className: { type: 'string' },
    confidence: { type: 'number', description: 'top-1 probability, rounded (output.mode top1 or probs)' },
    probabilities: {
      type: 'array',
      items: { type: 'number' },
      description: 'all class probabilities (output.mode probs)',
    },
    signature: {
      type: 'object',
      required: ['valid', 'signed'],
      properties: {
        valid: { type: 'boolean' },
        signed: { type: 'boolean' },
        signer: { type: ['string', 'null'] },
        profile: { type: ['string', 'null'] },
      },
    },
    flags: {
      type: 'array',
      description:
        "warnings: 'query-attack-suspected', and {detector, score} for each " +
        'input detector with action flag whose score exceeded its threshold',
      items: {
        anyOf: [
          { type: 'string' },
          {
            type: 'object',
            required: ['detector', 'score'],
            properties: { detector: { type: 'string' }, score: { type: 'number' } },
          },
        ],
      },
    },
    result: {
      type: 'string',
      description:
        'signed answer: compact JWS (gateway key, x5c chain) over requestId, input SHA-256, ' +
        'SOP Instance UID, input signer, model SHA-256, label, probabilities, time; check ' +
        "with `medshield verify-result`. With 'Accept: application/dicom' the answer is " +
        'instead a signed DICOM Comprehensive SR (this JWS in the X-Medshield-Result header)',
    },
  },
} as const;

export const ERROR_RESPONSE = {
  type: 'object',
  properties: {
    statusCode: { type: 'integer' },
    error: { type: 'string' },
    message: { type: 'string' },
    requestId: { type: 'string' },
  },
} as const;

export default async function inferRoute(app: FastifyInstance, opts: { ctx: GatewayContext }): Promise<void> {
  const ctx = opts.ctx;
  const types = ctx.config.inputs.contentTypes;
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    types,
    { parseAs: 'buffer', bodyLimit: ctx.config.inputs.bodyLimitBytes },
    (_req, body, done) => done(null, body),
  );

  app.post(
    '/v1/infer',
    {
      config: { roles: ['clinician', 'admin'], image: true },
      // Runs after every plugin's preHandler: a request answered (e.g. 422) or abandoned on the way never reaches the
      // model.
      preHandler: gate,
      bodyLimit: ctx.config.inputs.bodyLimitBytes,
      schema: {
        summary: 'Classify one signed medical image',
        description:
          `Body: the raw file. Accepted Content-Types: ${types.join(', ')}. The image's DICOM ` +
          `signature is verified first; refused images get 422 and never reach the model.`,
        tags: ['inference'],
        security: [{ bearerAuth: [] }],
        consumes: types,
        response: {
          200: INFER_RESPONSE,
          400: ERROR_RESPONSE,
          406: ERROR_RESPONSE,
          401: ERROR_RESPONSE,
          403: ERROR_RESPONSE,
          413: ERROR_RESPONSE,
          415: ERROR_RESPONSE,
          422: ERROR_RESPONSE,
          429: ERROR_RESPONSE,
          503: ERROR_RESPONSE,
        },
      },
    },
    async (req, reply) => {
      const x = req.modelInput;
      if (!x) throw new MedshieldError('INTERNAL', 'no model input (the image was not verified and decoded)');
      const live = () => !settled(req, reply);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              Object.assign(
                new MedshieldError('INTERNAL', `inference exceeded ${ctx.config.timeouts.inferenceMs} ms`),
                { statusCode: 503 },
              ),
            ),
          ctx.config.timeouts.inferenceMs,
        );
      });
      const work = async (): Promise<{ verdicts: DetectorVerdict[]; p?: Float32Array }> => {
        const t0 = nowMs();
        const verdicts = ctx.inputDefences.detectors.length ? await screenInput(ctx.inputDefences, x) : [];
        if (verdicts.length) addStage(req, 'screen', nowMs() - t0);
        req.auditCtx.detectors = verdicts;
        for (const v of verdicts)
          ctx.metrics.inputDetections.inc({ detector: v.detector, verdict: v.triggered ? v.action : 'clean' });
        if (verdicts.some((v) => v.triggered && v.action === 'reject')) return { verdicts };
        if (!live()) return { verdicts };
        const times = { queueMs: 0, modelMs: 0 };
        const p = await ctx.batched.predict(x, live, times);
        addStage(req, 'queue', times.queueMs);
        addStage(req, 'model', times.modelMs);
        return { verdicts, p };
      };
      let r: Awaited<ReturnType<typeof work>>;
      try {
        r = await Promise.race([work(), timeout]);
      } finally {
        clearTimeout(timer);
      }
      const { verdicts, p } = r;
      // answered or abandoned meanwhile
      if (!p && !verdicts.some((d) => d.triggered && d.action === 'reject')) return afterSettled(reply);
      if (!p) {
        const v = verdicts.find((d) => d.triggered && d.action === 'reject')!;
        req.auditCtx.event = 'SecurityAlert';
        req.auditCtx.outcome = OUTCOME.seriousFailure;
        req.auditCtx.decision = `rejected:${v.detector}`;
        req.auditCtx.reason =
          `image refused: adversarial-input detector '${v.detector}' scored ` +
          `${Number(v.score.toPrecision(6))} > threshold ${v.threshold}`;
        return reply
          .code(422)
          .send({ statusCode: 422, error: 'Unprocessable Entity', message: req.auditCtx.reason, requestId: req.id });
      }
      const pred = applyOutputPolicy(p, ctx.model.classes, ctx.config.output);
      const check = req.auditCtx.check!;
      req.auditCtx.decision =
        `${pred.label}:${pred.className}` + `${pred.confidence !== undefined ? `:${pred.confidence}` : ''}`;
      return sendAnswer(ctx, req, reply, pred, {
        requestId: req.id,
        ...pred,
        signature: { valid: check.valid, signed: check.signed, signer: check.signer, profile: check.profile },
        flags: [
          ...req.auditCtx.flags,
          ...verdicts
            .filter((v) => v.triggered)
            .map((v) => ({ detector: v.detector, score: Number(v.score.toPrecision(4)) })),
        ],
      });
    },
  );
}
