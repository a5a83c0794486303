/**
 * HTTP fuzzing of the gateway's request lifecycle (issue 20, finding 4), over raw TCP sockets so that every byte
 * and every stage of a request can be controlled: lying Content-Length (shorter and longer than the body),
 * chunked bodies, aborts at every stage (in the request line/headers, mid-body, after the body before the answer),
 * slow bodies, slow headers (past timeouts.headersMs), pipelining, and N aborted requests at random stages.
 *
 * Every case knows how many audit records it must leave: one per HTTP request the server parsed (route
 * `METHOD /path`), one per connection-level event that never became a request (route `connection`: the bytes after a
 * too-short Content-Length, headers cut off or too slow). `checkAudit` then compares the audit log with those
 * counts, checks that no refused image has a diagnosis, and the caller checks the gateway still answers 200.
 *
 * Aborts close with FIN (`socket.end()`): after a TCP reset the server may never read bytes the client wrote, so
 * whether a request existed would be a race, and the counts could not be exact.
 *
 *   node dist/bench/gateway/fuzz.js [--model default|DIR] [--aborts 1000] [--concurrency 16] [--seed 1] [--backend
 *   cpu|wasm|native]
 *        [--request-ms 2000] [--headers-ms 1000] [--each 3] [--only KIND,KIND]
 * (an in-process gateway from `gateway init` in a temporary folder, signing real files of ../shared/data/dicom).
 */
import net from 'node:net';
import { createHash } from 'node:crypto';
import type { AuditRecord } from '../../src/gateway/audit/record.js';
import { rng } from '../signatures/mutants.js';

export type CaseKind =
  | 'ok'
  | 'refused'
  | 'cl-short'
  | 'cl-long-fin'
  | 'cl-long-timeout'
  | 'chunked'
  | 'chunked-abort'
  | 'slow-body'
  | 'slow-headers'
  | 'pipelined'
  | 'abort-headers'
  | 'abort-body'
  | 'abort-after-body'
  | 'abort-pipelined';

export interface FuzzCase {
  kind: CaseKind;
  requests: number;
  connectionEvents: number;
  statuses: number[];
  random: boolean;
}

export interface FuzzOptions {
  /** http://host:port of the gateway. */
  base: string;
  apiKey: string;
  /** Signed images the policy accepts (200). */
  signed: Buffer[];
  /** Images the policy refuses (422). */
  refused: Buffer[];
  /** Aborted requests at random stages. */
  aborts: number;
  concurrency?: number;
  seed?: number;
  /** The server's timeouts.requestMs (the lying-longer case waits for it) and headersMs (slow headers exceed it). */
  requestMs: number;
  headersMs: number;
  /** How many of each special case (default 3). */
  each?: number;
  /** Run only these kinds (debugging). */
  only?: CaseKind[];
}

export interface FuzzSummary {
  cases: number;
  byKind: Record<string, { cases: number; statuses: Record<string, number> }>;
  expectedRequestRecords: number;
  expectedConnectionRecords: number;
  seconds: number;
}

/** The seeded PRNG (mulberry32) of the signature benchmarks: the same seed gives the same conversations. */
export { rng };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function head(host: string, key: string, extra: Record<string, string | number>): Buffer {
  const lines = [
    `POST /v1/infer HTTP/1.1`,
    `Host: ${host}`,
    `Authorization: Bearer ${key}`,
    'Content-Type: application/dicom',
  ];
  for (const [k, v] of Object.entries(extra)) lines.push(`${k}: ${v}`);
  return Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1');
}

function chunked(body: Buffer, rand: () => number): Buffer[] {
  const parts: Buffer[] = [];
  for (let o = 0; o < body.length; ) {
    const n = Math.max(1, Math.min(body.length - o, Math.floor(rand() * 8192)));
    parts.push(Buffer.concat([Buffer.from(`${n.toString(16)}\r\n`), body.subarray(o, o + n), Buffer.from('\r\n')]));
    o += n;
  }
  parts.push(Buffer.from('0\r\n\r\n'));
  return parts;
}

/** One raw connection: writes (with optional pauses), then ends (FIN) or waits for `responses` answers. */
async function conversation(
  base: string,
  steps: Array<Buffer | number>,
  o: { end: 'after-writes' | 'after-responses' | 'server'; responses?: number; timeoutMs: number },
): Promise<number[]> {
  const u = new URL(base);
  const sock = net.connect({ host: u.hostname, port: Number(u.port) });
  sock.on('error', () => undefined);
  let text = '';
  const statuses = (): number[] => [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
  const closed = new Promise<void>((resolve) => sock.once('close', () => resolve()));
  sock.on('data', (d) => {
    text += d.toString('latin1');
    if (o.end === 'after-responses' && statuses().length >= (o.responses ?? 1)) sock.end();
  });
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', () => resolve());
    sock.once('error', reject);
  });
  for (const s of steps) {
    if (sock.destroyed) break;
    if (typeof s === 'number') await sleep(s);
    else sock.write(s);
  }
  if (o.end === 'after-writes') sock.end();
  const timer = setTimeout(() => sock.destroy(), o.timeoutMs);
  await closed;
  clearTimeout(timer);
  return statuses();
}

/** Run the whole fuzz; resolves when every connection is closed. */
export async function runFuzz(o: FuzzOptions): Promise<{ summary: FuzzSummary; cases: FuzzCase[] }> {
  const rand = rng(o.seed ?? 1);
  const host = new URL(o.base).host;
  const pick = <T>(a: T[]): T => a[Math.floor(rand() * a.length)];
  const anyBody = () => (rand() < 0.7 ? pick(o.signed) : pick(o.refused));
  const wait = o.requestMs + 5000;
  type Job = () => Promise<FuzzCase>;
  const jobs: Job[] = [];
  const add = (
    kind: CaseKind,
    requests: number,
    connectionEvents: number,
    random: boolean,
    run: () => Promise<number[]>,
  ) => {
    if (!o.only || o.only.includes(kind))
      jobs.push(async () => ({ kind, requests, connectionEvents, random, statuses: await run() }));
  };

  const each = o.each ?? 3;
  for (let i = 0; i < each; i++) {
    const s = pick(o.signed);
    const r = pick(o.refused);
    add('ok', 1, 0, false, () =>
      conversation(o.base, [head(host, o.apiKey, { 'Content-Length': s.length, Connection: 'close' }), s], {
        end: 'server',
        timeoutMs: wait,
      }),
    );
    add('refused', 1, 0, false, () =>
      conversation(o.base, [head(host, o.apiKey, { 'Content-Length': r.length, Connection: 'close' }), r], {
        end: 'server',
        timeoutMs: wait,
      }),
    );
    // Content-Length shorter than the body (the curl of the issue): a 50-byte request, then the rest of the file as
    // garbage.
    add('cl-short', 1, 1, false, () =>
      conversation(o.base, [head(host, o.apiKey, { 'Content-Length': 50 }), s], { end: 'server', timeoutMs: wait }),
    );
    // Content-Length longer than the body: the client half-closes, or keeps waiting until timeouts.requestMs.
    add('cl-long-fin', 1, 0, false, () =>
      conversation(o.base, [head(host, o.apiKey, { 'Content-Length': s.length + 1000 }), s], {
        end: 'after-writes',
        timeoutMs: wait,
      }),
    );
    add('cl-long-timeout', 1, 0, false, () =>
      conversation(o.base, [head(host, o.apiKey, { 'Content-Length': s.length + 1000 }), s], {
        end: 'server',
        timeoutMs: wait,
      }),
    );
    add('chunked', 1, 0, false, () =>
      conversation(
        o.base,
        [head(host, o.apiKey, { 'Transfer-Encoding': 'chunked', Connection: 'close' }), ...chunked(s, rand)],
        { end: 'server', timeoutMs: wait },
      ),
    );
    // A slow body that still arrives within timeouts.requestMs.
    const slices = 8;
    // ≤ 2 s in all: far inside requestMs even on a loaded machine
    const gap = Math.min(250, Math.floor(o.requestMs / (4 * slices)));
    add('slow-body', 1, 0, false, () =>
      conversation(
        o.base,
        [
          head(host, o.apiKey, { 'Content-Length': s.length, Connection: 'close' }),
          ...Array.from({ length: slices }, (_, k) => [
            gap,
            s.subarray(Math.floor((k * s.length) / slices), Math.floor(((k + 1) * s.length) / slices)),
          ]).flat(),
        ],
        { end: 'server', timeoutMs: wait },
      ),
    );
    // Headers trickled in past timeouts.headersMs.
    const h = head(host, o.apiKey, { 'Content-Length': s.length });
    const steps = Math.ceil((o.headersMs * 2) / 200);
    add('slow-headers', 0, 1, false, () =>
      conversation(o.base, Array.from({ length: steps }, (_, k) => [h.subarray(k, k + 1), 200]).flat(), {
        end: 'server',
        timeoutMs: wait + o.headersMs * 2,
      }),
    );
    // Pipelining: k requests in one write, answered in order on one keep-alive connection.
    const k = 2 + Math.floor(rand() * 3);
    const bodies = Array.from({ length: k }, anyBody);
    add('pipelined', k, 0, false, () =>
      conversation(
        o.base,
        [Buffer.concat(bodies.flatMap((b) => [head(host, o.apiKey, { 'Content-Length': b.length }), b]))],
        { end: 'after-responses', responses: k, timeoutMs: wait },
      ),
    );
  }
  // Aborts at random stages.
  for (let i = 0; i < o.aborts; i++) {
    const b = anyBody();
    const stage = rand();
    if (stage < 0.2) {
      const h = head(host, o.apiKey, { 'Content-Length': b.length });
      const cut = 1 + Math.floor(rand() * (h.length - 2));
      add('abort-headers', 0, 1, true, () =>
        conversation(o.base, [h.subarray(0, cut)], { end: 'after-writes', timeoutMs: wait }),
      );
    } else if (stage < 0.45) {
      const cut = Math.floor(rand() * b.length);
      add('abort-body', 1, 0, true, () =>
        conversation(o.base, [head(host, o.apiKey, { 'Content-Length': b.length }), b.subarray(0, cut)], {
          end: 'after-writes',
          timeoutMs: wait,
        }),
      );
    } else if (stage < 0.7) {
      add('abort-after-body', 1, 0, true, () =>
        conversation(o.base, [head(host, o.apiKey, { 'Content-Length': b.length }), b], {
          end: 'after-writes',
          timeoutMs: wait,
        }),
      );
    } else if (stage < 0.85) {
      const parts = chunked(b, rand);
      const cut = Math.floor(rand() * parts.length);
      add('chunked-abort', 1, 0, true, () =>
        conversation(
          o.base,
          [head(host, o.apiKey, { 'Transfer-Encoding': 'chunked' }), ...parts.slice(0, cut), Math.floor(rand() * 20)],
          { end: 'after-writes', timeoutMs: wait },
        ),
      );
    } else {
      const k = 2 + Math.floor(rand() * 3);
      const bodies = Array.from({ length: k }, anyBody);
      add('abort-pipelined', k, 0, true, () =>
        conversation(
          o.base,
          [Buffer.concat(bodies.flatMap((x) => [head(host, o.apiKey, { 'Content-Length': x.length }), x]))],
          { end: 'after-writes', timeoutMs: wait },
        ),
      );
    }
  }
  // Shuffle, then run with bounded concurrency.
  for (let i = jobs.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [jobs[i], jobs[j]] = [jobs[j], jobs[i]];
  }
  const t0 = performance.now();
  const cases: FuzzCase[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: o.concurrency ?? 16 }, async () => {
      while (next < jobs.length) cases.push(await jobs[next++]());
    }),
  );
  const byKind: FuzzSummary['byKind'] = {};
  for (const c of cases) {
    const e = (byKind[c.kind] ??= { cases: 0, statuses: {} });
    e.cases++;
    for (const s of c.statuses.length ? c.statuses : [0])
      e.statuses[String(s || 'closed')] = (e.statuses[String(s || 'closed')] ?? 0) + 1;
  }
  return {
    cases,
    summary: {
      cases: cases.length,
      byKind,
      expectedRequestRecords: cases.reduce((s, c) => s + c.requests, 0),
      expectedConnectionRecords: cases.reduce((s, c) => s + c.connectionEvents, 0),
      seconds: Math.round((performance.now() - t0) / 100) / 10,
    },
  };
}

export interface AuditCheck {
  requestRecords: number;
  connectionRecords: number;
  /** Request ids that have more than one record (must be empty). */
  duplicateRequestIds: string[];
  /** Records of refused images (sha256 in `refused`, or status 422) that carry a decision (must be empty). */
  refusedWithDiagnosis: number[];
  /** Records with status 503 "audit log unavailable" (must be 0). */
  unavailable: number;
  statuses: Record<string, number>;
}

/** Tally the audit records written after `afterSeq` against the fuzz's expectations. */
export function checkAudit(records: AuditRecord[], refused: Buffer[]): AuditCheck {
  const refusedSha = new Set(refused.map((b) => createHash('sha256').update(b).digest('hex')));
  const req = records.filter((r) => r.route && /^[A-Z]+ \//.test(r.route));
  const ids = new Map<string, number>();
  for (const r of req) if (r.requestId) ids.set(r.requestId, (ids.get(r.requestId) ?? 0) + 1);
  const statuses: Record<string, number> = {};
  for (const r of records)
    if (r.route && r.route !== 'query-detector')
      statuses[`${r.route === 'connection' ? 'connection' : 'request'} ${r.status}`] =
        (statuses[`${r.route === 'connection' ? 'connection' : 'request'} ${r.status}`] ?? 0) + 1;
  return {
    requestRecords: req.length,
    connectionRecords: records.filter((r) => r.route === 'connection').length,
    duplicateRequestIds: [...ids].filter(([, n]) => n > 1).map(([id]) => id),
    refusedWithDiagnosis: req
      .filter((r) => (r.status === 422 || (r.imageSha256 && refusedSha.has(r.imageSha256))) && r.decision !== null)
      .map((r) => r.seq),
    unavailable: req.filter((r) => r.status === 503).length,
    statuses,
  };
}

async function main(): Promise<void> {
  const { parseArgs } = await import('node:util');
  const path = await import('node:path');
  const { initEngine } = await import('../../src/engine/index.js');
  const { loadModel } = await import('../../src/models/io.js');
  const { createGateway, loadGatewayConfig } = await import('../../src/gateway/index.js');
  const { makeGatewayDir, infer } = await import('./fixtures.js');
  const { fuzzImages } = await import('./fuzz-images.js');
  const { PACKAGE_ROOT } = await import('../../src/version.js');
  const { values: a } = parseArgs({
    options: {
      model: { type: 'string', default: 'default' },
      aborts: { type: 'string', default: '1000' },
      concurrency: { type: 'string', default: '16' },
      seed: { type: 'string', default: '1' },
      backend: { type: 'string', default: 'cpu' },
      only: { type: 'string' },
      each: { type: 'string', default: '3' },
      'request-ms': { type: 'string', default: '2000' },
      'headers-ms': { type: 'string', default: '1000' },
    },
  });
  await initEngine({ backend: a.backend as 'cpu' });
  const g = await makeGatewayDir(a.model!, (c) => {
    c.logging = { level: 'silent' };
    c.timeouts = { ...c.timeouts, requestMs: Number(a['request-ms']), headersMs: Number(a['headers-ms']) };
    c.rateLimit = {
      perKey: { max: 1e6, windowMs: 60000 },
      perIp: { max: 1e6, windowMs: 60000 },
      authFailures: { max: 1e6, windowMs: 60000 },
    };
  });
  const cfg = loadGatewayConfig(g.config);
  const gw = await createGateway(cfg, { model: await loadModel(a.model!) });
  const base = await gw.listen(0, '127.0.0.1');
  const imgs = await fuzzImages(g, path.join(PACKAGE_ROOT, '..', 'shared', 'data', 'dicom'));
  const head0 = gw.ctx.audit.headSeq;
  const { summary } = await runFuzz({
    base,
    apiKey: g.apiKey,
    signed: imgs.signed,
    refused: imgs.refused,
    aborts: Number(a.aborts),
    concurrency: Number(a.concurrency),
    seed: Number(a.seed),
    requestMs: cfg.timeouts.requestMs,
    headersMs: cfg.timeouts.headersMs,
    each: Number(a.each),
    only: a.only ? (a.only.split(',') as CaseKind[]) : undefined,
  });
  // Records of requests whose connection closed are written when the close is seen: wait for the count to settle.
  let n = -1;
  for (let i = 0; i < 40; i++) {
    await sleep(250);
    await gw.ctx.audit.flush();
    const m = (await gw.ctx.audit.store.page(head0, 1e7)).length;
    if (m === n && i > 3) break;
    n = m;
  }
  const settledAt = gw.ctx.audit.headSeq;
  const after = await infer(base, g.apiKey, imgs.signed[0]);
  const recs = await gw.ctx.audit.store.page(head0, settledAt - head0);
  const check = checkAudit(recs, imgs.refused);
  process.stdout.write(
    JSON.stringify({ summary, audit: check, afterFuzz: after.status, gatewayUp: true }, null, 2) + '\n',
  );
  await gw.close();
}

if (process.argv[1] && /fuzz\.js$/.test(process.argv[1]))
  main().catch((e) => {
    process.stderr.write(`fuzz: ${(e as Error).message}\n`);
    process.exit(1);
  });
