/**
 * An HTTP endpoint as a black-box target (`medshield attack … --target-url URL`): the attacker holds
 * no weights, only the answers of a model served over HTTP, as a vendor's API would give them.
 *
 * Requests (`format`):
 *   json  POST {"instances": [n × H × W × C nested arrays in [0,1]]}, up to `maxBatch` images each
 *         (TensorFlow Serving's REST "instances" form).
 *   png   POST one image per request as an 8-bit PNG (`Content-Type: image/png`): the pixels are
 *         quantised to k/255, as any image file an attacker could upload.
 * Responses (JSON): {"predictions": [[p…],…]} or {"probabilities": …} (probabilities), or
 *   {"predictions": [label,…]} / {"labels": …} (label only), or a single {"label": n, "confidence"?}
 *   (medshield gateway style) / {"probabilities": [p…]} for one image. `output: 'label'` on a
 *   probability endpoint keeps only the decision; `'auto'` settles on what the endpoint answers
 *   (its /metadata `output`, else one probe image), see `HttpTarget.connect`.
 *
 * Counting: `queries` counts every image sent once, when its request first goes out. A retried
 * request (network error, timeout, 429, 5xx) carries the same images and is NOT counted again: the
 * budget measures what the attacker asked, not how often the network dropped it. `attempts` counts
 * HTTP requests including retries.
 *
 * Transport: Node's global fetch; `concurrency` requests in flight (default 4), at least `paceMs`
 * between request starts, `retries` (default 3) with exponential backoff from `backoffMs` (200 ms,
 * doubling; a Retry-After header wins, capped at 60 s), `timeoutMs` per request (30 s). The API key
 * goes as `Authorization: Bearer KEY`, or raw in a custom header (`apiKeyHeader: 'X-API-Key'`).
 * Every failure is a one-line MedshieldError naming the URL.
 *
 *   const t = await HttpTarget.connect({ url: 'http://127.0.0.1:8500/predict', apiKey: 'k' });
 *   const p = await t.predictProbs(x, n);   // n × k, exactly n queries
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Task } from '../../data/medmnist.js';
import { MedshieldError, badArgument, badInput, mismatch } from '../../errors.js';
import { encodePng } from '../../data/png-encode.js';
import { decisions, type Target, type TargetKind, type TargetOutput } from './target.js';

export type HttpFormat = 'json' | 'png';

export interface HttpTargetOptions {
  url: string;
  format?: HttpFormat;
  output?: TargetOutput | 'auto';
  apiKey?: string;
  /** Header carrying the key (default Authorization, sent as `Bearer KEY`; any other header gets the key as is). */
  apiKeyHeader?: string;
  maxBatch?: number;
  concurrency?: number;
  paceMs?: number;
  retries?: number;
  backoffMs?: number;
  timeoutMs?: number;
  inputShape?: [number, number, number];
  classes?: string[];
  task?: Task;
}

export interface TargetMetadata {
  inputShape?: [number, number, number];
  classes?: string[];
  task?: Task;
  output?: TargetOutput;
}

const TASKS: Task[] = ['binary', 'multiclass', 'multilabel', 'ordinal'];
/** A transport or HTTP failure; `httpStatus` when the endpoint answered. */
const network = (msg: string, cause?: unknown, httpStatus?: number): MedshieldError & { httpStatus?: number } =>
  Object.assign(new MedshieldError('NETWORK', msg, { cause }), { httpStatus });
const excerpt = (s: string): string => {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > 160 ? `${t.slice(0, 160)}…` : t || '(empty body)';
};
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

/** Did the request fail before an answer? Returns the errno-style code (ECONNREFUSED, ENOTFOUND, TimeoutError…). */
function netCode(e: unknown): string {
  let c: unknown = e;
  for (let i = 0; i < 4 && c; i++) {
    const err = c as { code?: string; name?: string; cause?: unknown };
    if (err.name === 'TimeoutError' || err.name === 'AbortError') return 'TimeoutError';
    if (typeof err.code === 'string' && /^E[A-Z_]+$|^UND_ERR/.test(err.code)) return err.code;
    c = err.cause;
  }
  return 'network error';
}

function positiveInt(name: string, v: number | undefined, dflt: number, min = 1): number {
  const n = v ?? dflt;
  if (!Number.isInteger(n) || n < min) throw badArgument(`${name} must be an integer ≥ ${min}, got ${v}`);
  return n;
}

export class HttpTarget implements Target {
  readonly kind: TargetKind = 'http';
  readonly name: string;
  readonly inputShape: [number, number, number];
  readonly classes: string[];
  readonly task: Task;
  readonly format: HttpFormat;
  /** Images sent (each once, whatever the retries). */
  queries = 0;
  /** HTTP requests made, retries included. */
  attempts = 0;
  private out: TargetOutput | 'auto';
  private readonly headers: Record<string, string> = {};
  private readonly maxBatch: number;
  private readonly concurrency: number;
  private readonly paceMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly timeoutMs: number;
  private inFlight = 0;
  private readonly waiting: Array<() => void> = [];
  private nextStart = 0;
  private answered = false;

  constructor(opts: HttpTargetOptions & Required<Pick<HttpTargetOptions, 'inputShape' | 'classes' | 'task'>>) {
    let u: URL;
    try {
      u = new URL(opts.url);
    } catch {
      throw badArgument(`--target-url '${opts.url}' is not a URL`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:')
      throw badArgument(`--target-url must be http:// or https://, got '${opts.url}'`);
    this.name = opts.url;
    this.format = opts.format ?? 'json';
    if (this.format !== 'json' && this.format !== 'png')
      throw badArgument(`target format must be json or png, got '${opts.format}'`);
    this.out = opts.output ?? 'auto';
    this.inputShape = opts.inputShape;
    this.classes = opts.classes;
    this.task = opts.task;
    if (this.classes.length < 1) throw badArgument('an HTTP target needs its class list');
    if (this.format === 'png' && this.inputShape[2] !== 1 && this.inputShape[2] !== 3)
      throw unsupportedChannels(this.inputShape[2]);
    this.maxBatch = this.format === 'png' ? 1 : positiveInt('--max-batch', opts.maxBatch, 64);
    this.concurrency = positiveInt('--concurrency', opts.concurrency, 4);
    this.paceMs = positiveInt('--pace-ms', opts.paceMs, 0, 0);
    this.retries = positiveInt('--retries', opts.retries, 3, 0);
    this.backoffMs = positiveInt('backoff', opts.backoffMs, 200, 0);
    this.timeoutMs = positiveInt('--timeout-ms', opts.timeoutMs, 30_000);
    if (opts.apiKey !== undefined) {
      const h = opts.apiKeyHeader ?? 'Authorization';
      if (!/^[A-Za-z0-9-]+$/.test(h)) throw badArgument(`API key header '${h}' is not a valid header name`);
      if (/[\x00-\x1f\x7f]/.test(opts.apiKey)) throw badArgument('the API key contains control characters');
      this.headers[h] = h.toLowerCase() === 'authorization' ? `Bearer ${opts.apiKey}` : opts.apiKey;
    }
  }

  /**
   * A target with its metadata filled from `GET <url>/metadata` where the caller gave none (and
   * checked against it where both exist), and `output: 'auto'` settled: the metadata's `output`,
   * else the answer to one probe image (mid-grey; it counts as a query).
   */
  static async connect(opts: HttpTargetOptions): Promise<HttpTarget> {
    const probe = new HttpTarget({
      ...opts,
      inputShape: opts.inputShape ?? [1, 1, 1],
      classes: opts.classes ?? ['?'],
      task: opts.task ?? 'binary',
    });
    const meta = await probe.metadata();
    const inputShape = opts.inputShape ?? meta?.inputShape;
    const classes = opts.classes ?? meta?.classes;
    const task = opts.task ?? meta?.task;
    if (!inputShape || !classes || !task)
      throw badArgument(
        `target ${opts.url} offers no usable /metadata: give its ` +
          `input shape, classes and task (a --dataset, or --classes)`,
      );
    if (meta?.inputShape && meta.inputShape.join() !== inputShape.join())
      throw mismatch(
        `target ${opts.url} takes ${meta.inputShape.join('×')} images, but the data is ${inputShape.join('×')}`,
      );
    if (meta?.classes && meta.classes.length !== classes.length)
      throw mismatch(`target ${opts.url} has ${meta.classes.length} classes, expected ${classes.length}`);
    if (opts.output === 'probabilities' && meta?.output === 'label')
      throw mismatch(
        `target ${opts.url} returns labels only (its /metadata says so), but probabilities were asked for`,
      );
    const t = new HttpTarget({ ...opts, inputShape, classes, task });
    t.attempts = probe.attempts;
    t.answered = probe.answered;
    if (t.out === 'auto' && meta?.output) t.out = meta.output;
    if (t.out === 'auto') {
      const [h, w, c] = inputShape;
      await t.predictProbs(new Float32Array(h * w * c).fill(0.5), 1);
    }
    return t;
  }

  /** What the endpoint returns; 'label' until an 'auto' target has seen its first answer. */
  get output(): TargetOutput {
    return this.out === 'auto' ? 'label' : this.out;
  }

  /** `GET <url>/metadata`, or null when the endpoint has none (404, not JSON). Auth and reachability errors throw. */
  async metadata(): Promise<TargetMetadata | null> {
    const url = this.name.replace(/\/+$/, '') + '/metadata';
    const res = await this.send(url, { method: 'GET' }).catch((e: unknown) => {
      const s = (e as { httpStatus?: number }).httpStatus;
      if (s !== undefined && s >= 400 && s < 500 && s !== 401 && s !== 403) return null; // no metadata route
      throw e;
    });
    if (!res) return null;
    let m: Record<string, unknown>;
    try {
      m = JSON.parse(res) as Record<string, unknown>;
    } catch {
      return null;
    }
    if (!m || typeof m !== 'object') return null;
    const shape =
      Array.isArray(m.inputShape) && m.inputShape.length === 3 && m.inputShape.every((v) => isInt(v) && v > 0)
        ? (m.inputShape as [number, number, number])
        : undefined;
    const classes = Array.isArray(m.classes) && m.classes.length > 0 ? m.classes.map(String) : undefined;
    const task = TASKS.includes(m.task as Task) ? (m.task as Task) : undefined;
    const output = m.output === 'probabilities' || m.output === 'label' ? m.output : undefined;
    return { inputShape: shape, classes, task, output };
  }

  async predictProbs(x: Float32Array, n: number): Promise<Float32Array> {
    const [h, w, c] = this.inputShape;
    const d = h * w * c;
    const k = this.classes.length;
    if (!Number.isInteger(n) || n < 0 || x.length !== n * d)
      throw badArgument(`target '${this.name}' expects ${n}×${h}×${w}×${c} values, got ${x.length}`);
    const out = new Float32Array(n * k);
    const chunks: Array<[number, number]> = [];
    for (let s = 0; s < n; s += this.maxBatch) chunks.push([s, Math.min(n, s + this.maxBatch)]);
    // `concurrency` workers take chunks in order; after a failure no new chunk is sent.
    let next = 0;
    let failed = false;
    const worker = async (): Promise<void> => {
      while (!failed && next < chunks.length) {
        const [s, e] = chunks[next++];
        try {
          out.set(await this.request(x.subarray(s * d, e * d), e - s), s * k);
        } catch (err) {
          failed = true;
          throw err;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, chunks.length) }, worker));
    return out;
  }

  async close(): Promise<void> {
    /* fetch keeps no per-target state; idle sockets close on their own */
  }

  /** One chunk of images → n × k scores (probabilities, or one-hot decisions). */
  private async request(x: Float32Array, n: number): Promise<Float32Array> {
    const [h, w, c] = this.inputShape;
    let body: string | Buffer;
    let type: string;
    if (this.format === 'png') {
      body = encodePng(x, h, w, c);
      type = 'image/png';
    } else {
      body = JSON.stringify({ instances: nest(x, n, h, w, c) });
      type = 'application/json';
    }
    const text = await this.send(this.name, { method: 'POST', body, headers: { 'Content-Type': type } }, n);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw badInput(`target ${this.name} did not answer JSON: ${excerpt(text)}`);
    }
    const { rows, kind } = parseAnswer(json, n, this.classes.length, this.task, this.name);
    if (this.out === 'auto') this.out = kind;
    if (this.out === 'probabilities' && kind === 'label')
      throw mismatch(
        `target ${this.name} returns labels only, but probabilities ` +
          `were asked for (use a decision-based attack: hsj, boundary)`,
      );
    return this.out === 'label' && kind === 'probabilities' ? decisions(rows, n, this.classes.length, this.task) : rows;
  }

  /** One HTTP exchange carrying `images` images, with retries; resolves with the 2xx body text. */
  private async send(
    url: string,
    init: { method: string; body?: string | Buffer; headers?: Record<string, string> },
    images = 0,
  ): Promise<string> {
    for (let attempt = 0; ; attempt++) {
      await this.acquire();
      let res: Response | undefined;
      let failure: unknown;
      try {
        this.attempts++;
        if (attempt === 0) this.queries += images; // counted when first sent; retries carry the same images
        res = await fetch(url, {
          method: init.method,
          body: init.body as unknown as BodyInit | undefined,
          headers: { Accept: 'application/json', ...this.headers, ...init.headers },
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        const text = await res.text();
        if (res.ok) {
          this.answered = true;
          return text;
        }
        if (res.status === 401 || res.status === 403)
          throw network(`target ${url} rejected the API key (HTTP ${res.status})`, undefined, res.status);
        if (res.status !== 429 && res.status < 500)
          throw network(
            `target ${url} answered HTTP ${res.status}: ${excerpt(errorText(text))}`,
            undefined,
            res.status,
          );
        failure = network(
          `target ${url} answered HTTP ${res.status} after ${attempt + 1}` +
            ` attempt${attempt ? 's' : ''}: ${excerpt(errorText(text))}`,
        );
      } catch (e) {
        if (e instanceof MedshieldError) throw e;
        const code = netCode(e);
        const unreachable = code === 'ENOTFOUND' || code === 'EAI_AGAIN' || (code === 'ECONNREFUSED' && !this.answered);
        if (unreachable) throw network(`cannot reach target ${url} (${code})`, e);
        failure = network(
          code === 'TimeoutError'
            ? `target ${url} did not answer within ${this.timeoutMs} ms (${attempt + 1} attempt${attempt ? 's' : ''})`
            : `target ${url} failed: ${code} (${attempt + 1} attempt${attempt ? 's' : ''})`,
          e,
        );
      } finally {
        this.release();
      }
      if (attempt >= this.retries) throw failure;
      await sleep(retryDelay(res, this.backoffMs * 2 ** attempt));
    }
  }

  /** Concurrency slot plus pacing between request starts. */
  private async acquire(): Promise<void> {
    if (this.inFlight >= this.concurrency) await new Promise<void>((r) => this.waiting.push(r));
    else this.inFlight++;
    if (this.paceMs > 0) {
      const now = Date.now();
      const at = Math.max(now, this.nextStart);
      this.nextStart = at + this.paceMs;
      if (at > now) await sleep(at - now);
    }
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.inFlight--;
  }
}

function unsupportedChannels(c: number): MedshieldError {
  return badArgument(`PNG requests need 1 or 3 channels, the target takes ${c}`);
}

/** A Retry-After header (seconds or HTTP date) when present, else the backoff; at most 60 s. */
function retryDelay(res: Response | undefined, backoff: number): number {
  const ra = res?.headers.get('retry-after');
  if (ra) {
    const s = Number(ra);
    const ms = Number.isFinite(s) ? s * 1000 : Date.parse(ra) - Date.now();
    if (Number.isFinite(ms)) return Math.min(60_000, Math.max(0, ms));
  }
  return backoff;
}

/** The error message inside a JSON error body, else the body. */
function errorText(text: string): string {
  try {
    const j = JSON.parse(text) as { error?: unknown; message?: unknown };
    const m = j.message ?? j.error;
    if (typeof m === 'string') return m;
    if (m && typeof m === 'object' && typeof (m as { message?: unknown }).message === 'string')
      return (m as { message: string }).message;
  } catch {
    /* not JSON */
  }
  return text;
}

/** n × H × W × C nested arrays (TF-Serving "instances"). */
function nest(x: Float32Array, n: number, h: number, w: number, c: number): number[][][][] {
  const out: number[][][][] = [];
  let o = 0;
  for (let i = 0; i < n; i++) {
    const img: number[][][] = [];
    for (let y = 0; y < h; y++) {
      const row: number[][] = [];
      for (let xx = 0; xx < w; xx++) {
        const px: number[] = [];
        for (let ch = 0; ch < c; ch++) px.push(x[o++]);
        row.push(px);
      }
      img.push(row);
    }
    out.push(img);
  }
  return out;
}

/** Read any accepted answer form into n × k rows, and say whether it held probabilities or labels. */
function parseAnswer(
  json: unknown,
  n: number,
  k: number,
  task: Task,
  name: string,
): { rows: Float32Array; kind: TargetOutput } {
  if (!json || typeof json !== 'object' || Array.isArray(json))
    throw badInput(
      `target ${name} answered ${excerpt(JSON.stringify(json) ?? '')}` +
        `, not an object with predictions, probabilities or labels`,
    );
  const j = json as Record<string, unknown>;
  const rows = new Float32Array(n * k);
  const probs =
    j.probabilities ??
    (Array.isArray(j.predictions) &&
    (Array.isArray(j.predictions[0]) || (n === 1 && j.predictions.length === k && k > 1))
      ? j.predictions
      : undefined);
  if (probs !== undefined) {
    const list = Array.isArray(probs) && n === 1 && probs.length > 0 && !Array.isArray(probs[0]) ? [probs] : probs;
    if (!Array.isArray(list) || list.length !== n)
      throw mismatch(
        `target ${name} answered ${Array.isArray(list) ? list.length : 'no'}` +
          ` probability rows for ${n} image${n === 1 ? '' : 's'}`,
      );
    list.forEach((r: unknown, i) => {
      if (!Array.isArray(r) || r.length !== k)
        throw mismatch(
          `target ${name} returned ${Array.isArray(r) ? r.length : 'no'} class scores per image, expected ${k}`,
        );
      r.forEach((p: unknown, j2) => {
        if (typeof p !== 'number' || !Number.isFinite(p) || p < -1e-6 || p > 1 + 1e-6)
          throw badInput(`target ${name} returned probability ${JSON.stringify(p)}, outside [0,1]`);
        rows[i * k + j2] = Math.min(1, Math.max(0, p));
      });
    });
    return { rows, kind: 'probabilities' };
  }
  let labels: unknown = j.labels ?? j.predictions;
  if (labels === undefined && j.label !== undefined) labels = [j.label];
  if (labels === undefined)
    throw badInput(`target ${name} answered ${excerpt(JSON.stringify(j))}: no predictions, probabilities or labels`);
  if (!Array.isArray(labels) || labels.length !== n)
    throw mismatch(
      `target ${name} answered ${Array.isArray(labels) ? labels.length : 'no'}` +
        ` labels for ${n} image${n === 1 ? '' : 's'}`,
    );
  labels.forEach((l: unknown, i) => {
    if (task === 'multilabel' && Array.isArray(l)) {
      if (l.length !== k) throw mismatch(`target ${name} returned ${l.length} labels per image, expected ${k}`);
      l.forEach((b: unknown, j2) => {
        if (b !== 0 && b !== 1 && b !== true && b !== false)
          throw badInput(`target ${name} returned label value ${JSON.stringify(b)}, expected 0 or 1`);
        rows[i * k + j2] = b ? 1 : 0;
      });
      return;
    }
    if (!isInt(l) || l < 0 || l >= k)
      throw badInput(`target ${name} returned label ${JSON.stringify(l)}, outside 0..${k - 1}`);
    if (task === 'multilabel')
      throw badInput(`target ${name} returned one label per image for a ${k}-label head; expected 0/1 per label`);
    rows[i * k + l] = 1;
  });
  return { rows, kind: 'label' };
}
