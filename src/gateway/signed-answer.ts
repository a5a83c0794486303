/**
 * The gateway's signed answer (issue #20, "closing the chain scanner → gateway → result store"):
 *  - every 200 answer of /v1/infer carries `result`, a compact JWS (src/provenance/result-signature.ts)
 *    over {requestId, input SHA-256, SOP Instance UID, verified signer of the input, model name and
 *    weights SHA-256, label, class name, the probabilities the output policy reveals, time}, signed with
 *    the gateway's own key — the one `audit.signingKey`/`audit.signingCert` name (x5c = every certificate
 *    in signingCert, signer first). `medshield verify-result` checks it.
 *  - `Accept: application/dicom` answers instead with a signed DICOM Comprehensive SR of the same facts
 *    (src/provenance/sr.ts), referencing the input image with a Referenced SOP Instance MAC.
 *  - the audit record binds the answer: its decision gains `result:sha256:<SHA-256 of the JWS>` (and
 *    `sr:sha256:<SHA-256 of the SR file>` for an SR), so a stored answer can be matched to its record.
 * Without a gateway signing key the answer is unsigned and an SR is refused (406).
 */
import { addStage, nowMs } from './timing.js';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { MedshieldError } from '../errors.js';
import { loadSigner, pemCertificates, type SignerCredentials } from '../provenance/index.js';
import { signResult, jwsAlgFor, type ResultClaims } from '../provenance/result-signature.js';
import { buildSignedSr } from '../provenance/sr.js';
import type { GatewayConfig } from './config.js';
import type { GatewayContext } from './context.js';
import type { Prediction } from './inference.js';

export interface AnswerSigner {
  credentials: SignerCredentials;
  chain: Buffer[];
  subject: string;
}

const signers = new WeakMap<GatewayConfig, AnswerSigner | null>();

/**
 * The gateway's answer-signing key (audit.signingKey/signingCert), loaded once per config; null when none is
 * configured.
 */
export function answerSigner(config: GatewayConfig): AnswerSigner | null {
  if (signers.has(config)) return signers.get(config)!;
  let s: AnswerSigner | null = null;
  if (config.audit.signingKey && config.audit.signingCert) {
    const certPem = readFileSync(config.audit.signingCert, 'utf8');
    const credentials = loadSigner(readFileSync(config.audit.signingKey), certPem);
    jwsAlgFor(credentials.key);
    s = {
      credentials,
      chain: pemCertificates(certPem, config.audit.signingCert),
      subject: credentials.cert.subject.split('\n').join(', '),
    };
  }
  signers.set(config, s);
  return s;
}

const sha256 = (b: string | Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Does the caller ask for the DICOM SR (Accept names application/dicom with q > 0)? */
export function wantsDicom(accept: string | undefined): boolean {
  return (accept ?? '').split(',').some((part) => {
    const [type, ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    const q = params.find((p) => p.startsWith('q='));
    return type === 'application/dicom' && (q === undefined || Number(q.slice(2)) > 0);
  });
}

/**
 * The claims of a signed answer: the request, its verified input (ImageCheck), the model as checked at load, the
 * revealed prediction.
 */
export function answerClaims(
  ctx: GatewayContext,
  requestId: string,
  input: { sha256: string; sopInstanceUid: string | null; signer: string | null },
  pred: Prediction,
  time: Date,
  issuer: string | null,
): ResultClaims {
  return {
    requestId,
    inputSha256: input.sha256,
    sopInstanceUid: input.sopInstanceUid,
    inputSigner: input.signer,
    model: ctx.model.card.name,
    modelSha256: ctx.model.card.weights?.sha256 ?? null,
    modelBinding: ctx.model.card.weights?.binding ?? null,
    label: pred.label,
    className: pred.className,
    ...(pred.confidence !== undefined ? { confidence: pred.confidence } : {}),
    ...(pred.probabilities ? { probabilities: pred.probabilities } : {}),
    time: time.toISOString(),
    ...(issuer ? { iss: issuer } : {}),
  };
}

/**
 * Finish a successful /v1/infer answer: sign it (JWS in `result`), or, when the caller accepts
 * application/dicom, send the signed SR instead; note the answer's hash in the audit record.
 */
export async function sendAnswer(
  ctx: GatewayContext,
  req: FastifyRequest,
  reply: FastifyReply,
  pred: Prediction,
  body: Record<string, unknown>,
): Promise<unknown> {
  const signer = answerSigner(ctx.config);
  const check = req.auditCtx.check;
  const time = new Date();
  const dicom = wantsDicom(req.headers.accept);
  if (
    dicom &&
    (!signer ||
      String(req.headers['content-type'] ?? '')
        .split(';')[0]
        .trim()
        .toLowerCase() !== 'application/dicom')
  ) {
    req.auditCtx.reason = signer
      ? 'a DICOM SR answer needs a DICOM input'
      : 'a DICOM SR answer needs a gateway signing key (audit.signingKey)';
    req.auditCtx.decision = undefined;
    return reply
      .code(406)
      .send({ statusCode: 406, error: 'Not Acceptable', message: req.auditCtx.reason, requestId: req.id });
  }
  if (!signer) return body;
  const input = {
    sha256: check?.sha256 ?? sha256(req.body as Buffer),
    sopInstanceUid: check?.sopInstanceUid ?? null,
    signer: check?.valid && check.signed ? check.signer : null,
  };
  const claims = answerClaims(ctx, req.id, input, pred, time, signer.subject);
  const t0 = nowMs();
  const jws = signResult(claims, { key: signer.credentials.key, chain: signer.chain });
  addStage(req, 'answer', nowMs() - t0);
  req.auditCtx.decision = `${req.auditCtx.decision ?? ''} result:sha256:${sha256(jws)}`.trim();
  if (!dicom) return { ...body, result: jws };
  let sr: Buffer;
  try {
    sr = (
      await buildSignedSr(
        req.body as Buffer,
        {
          requestId: req.id,
          model: claims.model,
          modelSha256: claims.modelSha256,
          label: pred.label,
          className: pred.className,
          classes: ctx.model.classes,
          probabilities: pred.probabilities,
          confidence: pred.confidence,
          time,
        },
        signer.credentials,
      )
    ).bytes;
  } catch (e) {
    if (!(e instanceof MedshieldError)) throw e;
    req.auditCtx.reason = `cannot build the DICOM SR: ${e.message}`;
    req.auditCtx.decision = undefined;
    return reply
      .code(406)
      .send({ statusCode: 406, error: 'Not Acceptable', message: req.auditCtx.reason, requestId: req.id });
  }
  req.auditCtx.decision += ` sr:sha256:${sha256(sr)}`;
  return reply.code(200).type('application/dicom').header('x-medshield-result', jws).send(sr);
}
