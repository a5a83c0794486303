/**
 * What the dashboard's views read, shaped from library calls: the campaign API (src/api/campaign:
 * campaignStatus, listCampaigns, campaignSamples, sampleImages) and the model cards. Nothing here computes an
 * experiment; it joins, filters and formats. No patient identifiers exist in the store (MedMNIST indices,
 * labels, predictions and the 28×28 model inputs), and none are added here.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import {
  campaignSamples,
  campaignStatus,
  type CampaignStatus,
  type CampaignStore,
  type SampleQuery,
  type SampleRow,
} from '../api/campaign/index.js';
import { MEDMNIST, CARD_FILE, SHIPPED_MODELS, type ModelCard } from '../api/catalog.js';
import { badArgument, notFound } from '../errors.js';

export interface CampaignSummary {
  id: string;
  name: string;
  status: string;
  shards: { total: number; done: number; failed: number };
}

export async function campaigns(store: CampaignStore | null): Promise<CampaignSummary[]> {
  if (!store) return [];
  const out: CampaignSummary[] = [];
  for (const c of await store.listCampaigns()) {
    const s = await campaign(store, c.id);
    out.push({ id: s.id, name: s.name, status: s.status, shards: s.shards });
  }
  return out;
}

/** Status objects by campaign, with the fingerprint of the store rows they were computed from. */
const statusCache = new WeakMap<CampaignStore, Map<string, { fp: string; status: CampaignStatus }>>();
const STATUS_CACHE_SIZE = 64;

/**
 * The campaign's status object (campaignStatus). Job results are written once and never changed or removed, so
 * the number of stored results, the failures and the campaign row fix the object: it is recomputed only when one
 * of them changed (a running campaign, another process resuming it), which keeps repeated page loads and the
 * live-progress poll from re-reading every job result.
 */
export async function campaign(store: CampaignStore | null, id: string): Promise<CampaignStatus> {
  if (!store) throw notFound(`no campaign '${id}': the dashboard runs without a results store (--store)`);
  const c = await store.getCampaign(id);
  if (!c) throw notFound(`no campaign '${id}' in ${store.where}`);
  const [done, fails] = await Promise.all([store.doneKeys(id), store.failures(id)]);
  const fp = [
    c.state,
    c.seconds,
    c.updatedAt,
    c.jobsTotal,
    done.size,
    fails.length,
    fails.filter((f) => !done.has(f.jobKey)).length,
  ].join('|');
  let m = statusCache.get(store);
  if (!m) {
    m = new Map();
    statusCache.set(store, m);
  }
  const hit = m.get(id);
  if (hit && hit.fp === fp) return hit.status;
  const status = await campaignStatus(store, id);
  m.delete(id);
  m.set(id, { fp, status });
  while (m.size > STATUS_CACHE_SIZE) m.delete(m.keys().next().value!);
  return status;
}

async function specOf(store: CampaignStore, id: string) {
  const c = await store.getCampaign(id);
  if (!c) throw notFound(`no campaign '${id}' in ${store.where}`);
  return c.spec;
}

// ---------------------------------------------------------------- models

export interface ModelInfo {
  name: string;
  sha256: string | null;
  architecture: string;
  dataset: string;
  metrics: Record<string, { accuracy?: number; auc?: number; n?: number }> | null;
  /** 'models/' for shipped models, 'campaign <id>' for models a campaign used. */
  source: string[];
  onnx: boolean;
  campaigns: string[];
  classes: string[];
  parameters: number | null;
  training: { command?: string; epochs?: number; seed?: number; seconds?: number } | null;
  datasetSha256: string | null;
  createdAt: string | null;
  cardName: string | null;
}

function readCard(dir: string): ModelCard | null {
  const f = path.join(dir, CARD_FILE);
  if (!existsSync(f)) return null;
  try {
    return JSON.parse(readFileSync(f, 'utf8')) as ModelCard;
  } catch {
    return null;
  }
}

function fromCard(name: string, card: ModelCard | null, source: string, sha256?: string | null): ModelInfo {
  const a = card?.architecture;
  const t = card?.training as { command?: string; epochs?: number; seed?: number; seconds?: number } | undefined;
  return {
    name,
    sha256: card?.weights?.sha256 ?? sha256 ?? null,
    architecture: a ? `${a.name}${a.width ? ` (width ${a.width})` : ''}` : 'unknown (no model card)',
    dataset: card?.dataset?.name ?? 'unknown',
    metrics: (card?.metrics as ModelInfo['metrics']) ?? null,
    source: [source],
    onnx: a?.format === 'onnx' || !!card?.onnx,
    campaigns: [],
    classes: card?.dataset?.classes ?? [],
    parameters: a?.parameters ?? null,
    training: t ? { command: t.command, epochs: t.epochs, seed: t.seed, seconds: t.seconds } : null,
    datasetSha256: card?.dataset?.sha256 ?? null,
    createdAt: (card as { createdAt?: string } | null)?.createdAt ?? null,
    cardName: card?.name ?? null,
  };
}

/** Every model of `modelsDir` and of the store's campaigns, with the campaigns that used it. */
export async function models(store: CampaignStore | null, modelsDir: string): Promise<ModelInfo[]> {
  const out: ModelInfo[] = [];
  const byDir = new Map<string, ModelInfo>();
  const rank = (n: string): number => {
    const i = (SHIPPED_MODELS as readonly string[]).indexOf(n);
    return i < 0 ? SHIPPED_MODELS.length : i;
  };
  if (existsSync(modelsDir)) {
    const names = readdirSync(modelsDir)
      .filter((e) => statSync(path.join(modelsDir, e), { throwIfNoEntry: false })?.isDirectory())
      .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
    for (const n of names) {
      const dir = path.join(modelsDir, n);
      const card = readCard(dir);
      if (!card && !existsSync(path.join(dir, 'model.onnx'))) continue;
      const m = fromCard(n, card, 'models/');
      if (!card && existsSync(path.join(dir, 'model.onnx'))) m.onnx = true;
      out.push(m);
      byDir.set(path.resolve(dir), m);
    }
  }
  if (!store) return out;
  for (const c of await store.listCampaigns()) {
    for (const m of c.spec.models) {
      const dir = (SHIPPED_MODELS as readonly string[]).includes(m.ref)
        ? path.join(modelsDir, m.ref)
        : path.resolve(c.spec.baseDir ?? '.', m.ref);
      let info =
        byDir.get(path.resolve(dir)) ?? out.find((x) => x.name === m.name && x.source.includes(`campaign ${c.id}`));
      // same place, other weights: a separate entry
      if (info && m.sha256 && info.sha256 && m.sha256 !== info.sha256) info = undefined;
      if (!info) {
        info = fromCard(m.name, readCard(dir), `campaign ${c.id}`, m.sha256 ?? null);
        out.push(info);
        byDir.set(path.resolve(dir) + (m.sha256 ? `#${m.sha256}` : ''), info);
      }
      if (!info.campaigns.includes(c.id)) info.campaigns.push(c.id);
    }
  }
  return out;
}

// ---------------------------------------------------------------- samples (gallery)

export interface Prediction {
  pred: number;
  name: string;
  conf: number;
}
export interface SampleView {
  key: string;
  model: string;
  attack: string;
  eps: number;
  index: number;
  label: number;
  labelName: string;
  clean: Prediction;
  adversarial: Prediction;
  flipped: boolean;
  /** false: the clean image was already misclassified, so it was not attacked. */
  attacked: boolean;
  linf: number | null;
  l2: number | null;
  queries: number | null;
  /** The stored difference image is 0.5 + (adv − clean) × amplification (so ±L∞ spans black … white). */
  amplification: number | null;
}

export interface SampleQueryText {
  model?: string;
  attack?: string;
  eps?: string | number;
  flipped?: string | boolean;
  label?: string | number;
  offset?: number;
  limit?: number;
}

export const MAX_PAGE = 200;

function className(classes: string[], v: number | number[]): string {
  if (Array.isArray(v))
    return (
      v
        .map((b, j) => (b ? (classes[j] ?? String(j)) : null))
        .filter(Boolean)
        .join(', ') || 'none'
    );
  return classes[v] ?? String(v);
}

function parseQuery(q: SampleQueryText): SampleQuery {
  const out: SampleQuery = {};
  if (q.model) out.model = String(q.model);
  if (q.attack) out.attack = String(q.attack);
  if (q.eps !== undefined && q.eps !== '') {
    const e = Number(q.eps);
    if (!Number.isFinite(e) || e < 0 || e > 1)
      throw badArgument(`eps must be a number in [0, 1], got '${String(q.eps).slice(0, 20)}'`);
    out.eps = e;
  }
  if (q.flipped !== undefined && q.flipped !== '') {
    if (!['true', 'false', true, false].includes(q.flipped as never))
      throw badArgument(`flipped must be true or false, got '${String(q.flipped).slice(0, 20)}'`);
    out.flipped = q.flipped === true || q.flipped === 'true';
  }
  if (q.label !== undefined && q.label !== '') {
    const l = Number(q.label);
    if (!Number.isInteger(l) || l < 0)
      throw badArgument(`label must be a class index, got '${String(q.label).slice(0, 20)}'`);
    out.label = l;
  }
  out.offset = Math.max(0, Math.floor(Number(q.offset ?? 0)) || 0);
  out.limit = Math.min(MAX_PAGE, Math.max(1, Math.floor(Number(q.limit ?? 24)) || 24));
  return out;
}

export function sampleView(s: SampleRow, classes: string[]): SampleView {
  const scalar = (v: number | number[]): number => (Array.isArray(v) ? -1 : v);
  return {
    key: s.sampleKey,
    model: s.model,
    attack: s.attack,
    eps: s.eps,
    index: s.datasetIndex,
    label: scalar(s.label),
    labelName: className(classes, s.label),
    clean: { pred: scalar(s.cleanPrediction), name: className(classes, s.cleanPrediction), conf: s.cleanConfidence },
    adversarial: {
      pred: scalar(s.adversarialPrediction),
      name: className(classes, s.adversarialPrediction),
      conf: s.adversarialConfidence,
    },
    flipped: s.success,
    attacked: s.attacked,
    linf: Number.isFinite(s.linf) ? s.linf : null,
    l2: Number.isFinite(s.l2) ? s.l2 : null,
    queries: s.queries,
    amplification: s.linf > 0 ? 1 / (2 * s.linf) : null,
  };
}

export async function samples(store: CampaignStore | null, id: string, q: SampleQueryText) {
  if (!store) throw notFound(`no campaign '${id}': the dashboard runs without a results store (--store)`);
  const spec = await specOf(store, id);
  const query = parseQuery(q);
  const classes = MEDMNIST[spec.data.dataset]?.classes ?? [];
  const page = await campaignSamples(store, id, query);
  const eps = [...new Set(spec.attacks.flatMap((a) => a.eps.map((e) => e.value)))].sort((a, b) => a - b);
  return {
    total: page.total,
    offset: query.offset!,
    limit: query.limit!,
    rows: page.rows.map((s) => sampleView(s, classes)),
    facets: {
      models: spec.models.map((m) => m.name),
      attacks: spec.attacks.map((a) => a.name),
      eps,
      classes: classes.map((name, value) => ({ value, name })),
    },
  };
}

/** A campaign's failed jobs (those without a result): job key, the error's first line, attempts. */
export async function failures(
  store: CampaignStore | null,
  id: string,
): Promise<Array<{ jobKey: string; error: string; attempts: number }>> {
  await campaign(store, id);
  const done = await store!.doneKeys(id);
  return (await store!.failures(id))
    .filter((f) => !done.has(f.jobKey))
    .map((f) => ({ jobKey: f.jobKey, error: f.error.split('\n')[0].slice(0, 500), attempts: f.attempts }));
}

// ---------------------------------------------------------------- black-box query curves

/**
 * Accuracy vs query budget for the score/decision-based attacks of a campaign (rows whose samples carry query
 * counts): at budget q an image counts as robust when it was classified correctly and the attack did not
 * succeed within q queries. The last point equals the row's robust accuracy.
 */
export async function queryCurve(
  store: CampaignStore | null,
  id: string,
): Promise<{ rows: Array<{ model: string; attack: string; eps: number; queries: number; accuracy: number }> }> {
  if (!store) return { rows: [] };
  const status = await campaign(store, id);
  const rows: Array<{ model: string; attack: string; eps: number; queries: number; accuracy: number }> = [];
  for (const r of status.results.filter((x) => x.meanQueries !== null && x.n > 0)) {
    const all: SampleRow[] = [];
    for (let offset = 0; ; offset += 5000) {
      const p = await campaignSamples(store, id, { model: r.model, attack: r.attack, eps: r.eps, offset, limit: 5000 });
      all.push(...p.rows);
      if (p.rows.length < 5000 || all.length >= p.total) break;
    }
    if (!all.length || all.every((s) => s.queries === null)) continue;
    const correct = (s: SampleRow) => JSON.stringify(s.cleanPrediction) === JSON.stringify(s.label);
    const broken = all
      .filter((s) => correct(s) && s.success)
      .map((s) => s.queries ?? 0)
      .sort((a, b) => a - b);
    const correctN = all.filter(correct).length;
    const maxQ = Math.max(1, ...all.map((s) => s.queries ?? 0));
    const budgets = [...new Set([0, ...broken, maxQ])];
    const step = Math.max(1, Math.ceil(budgets.length / 60));
    const pts = budgets.filter((_, i) => i % step === 0 || i === budgets.length - 1);
    let k = 0;
    for (const q of pts) {
      while (k < broken.length && broken[k] <= q) k++;
      rows.push({ model: r.model, attack: r.attack, eps: r.eps, queries: q, accuracy: (correctN - k) / all.length });
    }
  }
  return { rows };
}

// ---------------------------------------------------------------- scorecard

export interface RocPoint {
  model: string;
  detector: string;
  attack: string;
  eps: number;
  fpr: number;
  tpr: number;
}

/** ROC from per-sample scores (higher = more adversarial). */
export function roc(clean: number[], adversarial: number[]): Array<{ fpr: number; tpr: number }> {
  const all = [...clean.map((s) => ({ s, y: 0 })), ...adversarial.map((s) => ({ s, y: 1 }))].sort((a, b) => b.s - a.s);
  const pts = [{ fpr: 0, tpr: 0 }];
  let tp = 0,
    fp = 0;
  for (let i = 0; i < all.length; i++) {
    if (all[i].y) tp++;
    else fp++;
    if (i === all.length - 1 || all[i + 1].s !== all[i].s)
      pts.push({ fpr: fp / Math.max(1, clean.length), tpr: tp / Math.max(1, adversarial.length) });
  }
  return pts;
}

export async function scorecard(store: CampaignStore | null, id: string) {
  const status = await campaign(store, id);
  const rocs: RocPoint[] = [];
  const results = await store!.results(id);
  for (const r of results.filter((x) => x.kind === 'detect')) {
    const rows = (r.result as { rows?: Array<Record<string, unknown>> }).rows ?? [];
    for (const row of rows) {
      const sc = row.scores as { clean?: number[]; adversarial?: number[] } | undefined;
      const pts = Array.isArray(row.roc)
        ? (row.roc as Array<{ fpr: number; tpr: number }>)
        : sc && Array.isArray(sc.clean) && Array.isArray(sc.adversarial)
          ? roc(sc.clean, sc.adversarial)
          : null;
      if (pts)
        for (const p of pts)
          rocs.push({
            model: r.model,
            detector: r.detector ?? '?',
            attack: String(row.attack ?? r.attack),
            eps: r.eps,
            fpr: p.fpr,
            tpr: p.tpr,
          });
    }
  }
  return { detection: status.detection, roc: rocs, defences: status.defences, scorecard: status.scorecard };
}
