/**
 * The request lifecycle, closed: one decision and one audit record per request, nothing after either.
 *
 * Fastify runs a request's hooks in stages (onRequest → preParsing → body → preValidation → preHandler →
 * handler) and its own guard between hooks is `reply.sent`, which turns true only once the response has been
 * written — with an asynchronous onSend hook (the durable audit write) that is milliseconds after a hook has
 * *decided* the answer. Without more, a 401 from onRequest still had its body parsed and its image verified, a
 * 422 from the signature check still had its image decoded and sent to the model, and the second `send` gave a
 * second audit record (issue 20, finding 4). So:
 *
 * - `settled(req, reply)` is true once an answer was decided (the first onSend hook marks it, synchronously in
 *   `reply.send`) or the client is gone (the response's `close` came before it finished);
 * - `gate` hooks, registered before every other hook of their stage and once more per image route just before
 *   its handler, stop the chain of a settled request (they never call `done`);
 * - a response that closes unfinished gets its audit record right then (status 499, "client closed the
 *   connection"); `recordOnce` makes the record of each request unique, whichever of onSend and close comes first;
 * - connection-level errors that never became a request (malformed request line or headers, headers cut off or not
 *   complete within timeouts.headersMs) get one record each too, unless a request on that connection is still
 *   being received (that request's own record covers it).
 */
import type { Socket } from 'node:net';
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';

const LAST_REQUEST = Symbol('medshield.lastRequest');

/** True once this request's answer is decided or its client is gone: nothing more may run for it. */
export function settled(req: FastifyRequest, reply: FastifyReply): boolean {
  const a = req.auditCtx;
  return reply.sent || !!a?.replied || !!a?.gone;
}

/** A hook (onRequest/preValidation/preHandler) that stops the chain of a settled request. */
export function gate(req: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
  if (settled(req, reply)) return;
  done();
}

/** The same for preParsing (a settled request's body is never read). */
export function parsingGate(
  req: FastifyRequest,
  reply: FastifyReply,
  _payload: unknown,
  done: (err?: Error | null) => void,
): void {
  if (settled(req, reply)) return;
  done();
}

/** Remember the request being received on its socket (for the connection-level error handler). */
export function trackOnSocket(req: FastifyRequest): void {
  const s = req.raw.socket as Socket & { [LAST_REQUEST]?: FastifyRequest['raw'] };
  if (s) s[LAST_REQUEST] = req.raw;
}

/** Is a request on this socket still being received (its body incomplete)? Its own record then covers the error. */
export function requestInProgress(socket: Socket): boolean {
  const r = (socket as Socket & { [LAST_REQUEST]?: FastifyRequest['raw'] })[LAST_REQUEST];
  return !!r && !r.complete;
}

/**
 * What a handler returns when its request settled while it worked: nothing, once the decided answer has been
 * written or the connection is gone (Fastify sends nothing more for an `undefined` result then).
 */
export async function afterSettled(reply: FastifyReply): Promise<undefined> {
  const res = reply.raw;
  if (!res.writableFinished && !res.destroyed)
    await new Promise<void>((resolve) => {
      res.once('close', () => resolve());
      res.once('finish', () => resolve());
    });
  return undefined;
}
