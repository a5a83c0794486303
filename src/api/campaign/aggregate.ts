/**
 * The campaign status object (issue 22, item 2) — computed from the store alone, so `campaign run`,
 * `campaign status`, `campaign export` and the dashboard print the same numbers wherever the jobs ran:
 * one `results` row per model × attack × ε, summed over its shards (accuracies from the counts, success
 * rate among the attacked images), and one `detection` row per model × detector × test attack × ε.
 */
import { round } from '../../models/metrics.js';
import { notFound } from '../../errors.js';
import type { CampaignSpec } from './spec.js';
import type { AttackJobResult, DefendJobResult, DetectJobResult, ScorecardJobResult } from './shard.js';
import { appliesTo } from './plan.js';
import type {
  CampaignState,
  CampaignStore,
  JobResultRow,
  SampleImageRow,
  SampleQuery,
  SampleRow,
} from './store/types.js';

export interface ResultRow {
  model: string;
  attack: string;
  eps: number;
  n: number;
  cleanAccuracy: number;
  robustAccuracy: number;
  attackSuccessRate: number | null;
  epsText: string;
  algorithm: string;
  norm: string;
  meanLinf: number | null;
  meanL2: number | null;
  meanQueries: number | null;
  /** Shards of this row done / planned. */
  shards: { done: number; total: number };
}

export interface DetectionResultRow {
  model: string;
  detector: string;
  attack: string;
  eps: number;
  auc: number | null;
  tprAt5Fpr: number | null;
  trainAttack: string;
  epsText: string;
  n: number;
  threshold: number | null;
  fitN: number;
}

/** One defence × attack × ε of a model over all its shards (non-adaptive, as `medshield defend`). */
export interface DefenceResultRow {
  model: string;
  defence: string;
  attack: string;
  eps: number;
  n: number;
  /** The defended model: clean accuracy, and correct on both the clean and the adversarial image. */
  cleanAccuracy: number;
  robustAccuracy: number;
  /** The same images on the undefended model (the `none` row of `medshield defend`). */
  undefendedCleanAccuracy: number;
  undefendedRobustAccuracy: number;
  epsText: string;
  /** The defence's canonical spec (`defence` is its label). */
  spec: string;
  norm: string;
  adaptive: false;
  shards: { done: number; total: number };
}

/** One scorecard row × ε of a model: the verdict of `medshield scorecard` for that row. */
export interface ScorecardResultRow {
  model: string;
  defence: string;
  eps: number;
  epsText: string;
  n: number;
  verdict: string;
  cleanAccuracy: number;
  /** Share of the correctly classified images that are fooled and not flagged. */
  nonAdaptive: { attack: string; fooledAndUndetected: number };
  adaptive: { attack: string; fooledAndUndetected: number };
  gradientMasking: boolean;
  /** 'passed', 'skipped', or the failed checks. */
  sanity: string;
  baseline: { cleanAccuracy: number; robustAccuracy: number; attack: string };
  quick: boolean;
  seconds: number;
}

export interface CampaignStatus {
  id: string;
  name: string;
  status: CampaignState;
  specHash: string;
  shards: { total: number; done: number; failed: number };
  results: ResultRow[];
  detection: DetectionResultRow[];
  /** Defence rows (spec `defences:`) and scorecard rows (spec `scorecard:`); empty when the spec has none. */
  defences: DefenceResultRow[];
  scorecard: ScorecardResultRow[];
  seconds: number;
}

const sameEps = (a: number, b: number): boolean => Math.abs(a - b) < 1e-12;

export async function campaignStatus(store: CampaignStore, id: string): Promise<CampaignStatus> {
  const c = await store.getCampaign(id);
  if (!c) throw notFound(`no campaign '${id}' in ${store.where}`);
  const rows = await store.results(id);
  const failures = await store.failures(id);
  const done = new Set(rows.map((r) => r.jobKey));
  const failed = failures.filter((f) => !done.has(f.jobKey)).length;
  const total = c.jobsTotal;
  const status: CampaignState = rows.length >= total ? 'done' : c.state === 'done' ? 'running' : c.state;
  return {
    id: c.id,
    name: c.name,
    status,
    specHash: c.specHash,
    shards: { total, done: rows.length, failed },
    results: attackRows(c.spec, rows),
    detection: detectionRows(c.spec, rows),
    defences: defenceRows(c.spec, rows),
    scorecard: scorecardRows(c.spec, rows),
    seconds: round(c.seconds, 3),
  };
}

function attackRows(spec: CampaignSpec, rows: JobResultRow[]): ResultRow[] {
  const out: ResultRow[] = [];
  const shardsPerRow = spec.data.limit !== undefined ? Math.ceil(spec.data.limit / spec.shardSize) : null;
  for (const m of spec.models) {
    for (const a of spec.attacks) {
      if (!appliesTo(a, m.name)) continue;
      for (const e of a.eps) {
        const rs = rows.filter(
          (r) => r.kind === 'attack' && r.model === m.name && r.attack === a.name && sameEps(r.eps, e.value),
        );
        const sum = (f: (x: AttackJobResult) => number): number =>
          rs.reduce((s, r) => s + f(r.result as AttackJobResult), 0);
        const n = sum((x) => x.n);
        const attacked = sum((x) => x.attacked);
        const qn = sum((x) => x.queriesCount);
        const first = rs[0]?.result as AttackJobResult | undefined;
        out.push({
          model: m.name,
          attack: a.name,
          eps: e.value,
          n,
          cleanAccuracy: n ? round(sum((x) => x.cleanCorrect) / n) : 0,
          robustAccuracy: n ? round(sum((x) => x.robustCorrect) / n) : 0,
          attackSuccessRate: attacked ? round(sum((x) => x.succeeded) / attacked) : null,
          epsText: e.text,
          algorithm: a.attack,
          norm: String(first?.summary.norm ?? a.norm ?? ''),
          meanLinf: attacked ? round(sum((x) => x.linfSum) / attacked, 6) : null,
          meanL2: attacked ? round(sum((x) => x.l2Sum) / attacked, 6) : null,
          meanQueries: qn ? round(sum((x) => x.queriesSum) / qn, 2) : null,
          shards: { done: rs.length, total: shardsPerRow ?? rs.length },
        });
      }
    }
  }
  return out;
}

function detectionRows(spec: CampaignSpec, rows: JobResultRow[]): DetectionResultRow[] {
  const out: DetectionResultRow[] = [];
  for (const m of spec.models) {
    for (const d of spec.detectors) {
      if (!appliesTo(d, m.name)) continue;
      for (const e of d.eps) {
        const r = rows.find(
          (x) =>
            x.kind === 'detect' &&
            x.model === m.name &&
            x.detector === d.detector &&
            x.attack === d.trainAttack &&
            sameEps(x.eps, e.value),
        );
        if (!r) continue;
        for (const row of (r.result as DetectJobResult).rows) {
          const x = row as {
            attack: string;
            n: number;
            auc: number | null;
            tprAt5Fpr: number | null;
            threshold: number | null;
            fitN: number;
          };
          out.push({
            model: m.name,
            detector: d.detector,
            attack: x.attack,
            eps: e.value,
            auc: x.auc,
            tprAt5Fpr: x.tprAt5Fpr,
            trainAttack: d.trainAttack,
            epsText: e.text,
            n: x.n,
            threshold: x.threshold,
            fitN: x.fitN,
          });
        }
      }
    }
  }
  return out;
}

function defenceRows(spec: CampaignSpec, rows: JobResultRow[]): DefenceResultRow[] {
  const out: DefenceResultRow[] = [];
  const shardsPerRow = spec.data.limit !== undefined ? Math.ceil(spec.data.limit / spec.shardSize) : null;
  for (const m of spec.models) {
    for (const d of spec.defences ?? []) {
      if (!appliesTo(d, m.name)) continue;
      for (const a of d.attacks) {
        for (const e of d.eps) {
          const rs = rows
            .filter(
              (r) =>
                r.kind === 'defend' &&
                r.model === m.name &&
                r.detector === d.name &&
                r.attack === a &&
                sameEps(r.eps, e.value),
            )
            .map((r) => r.result as DefendJobResult);
          const sum = (f: (x: DefendJobResult) => number): number => rs.reduce((s, r) => s + f(r), 0);
          const n = sum((x) => x.n);
          const acc = (f: (x: DefendJobResult) => number): number => (n ? round(sum(f) / n) : 0);
          out.push({
            model: m.name,
            defence: d.name,
            attack: a,
            eps: e.value,
            n,
            cleanAccuracy: acc((x) => x.cleanCorrect),
            robustAccuracy: acc((x) => x.robustCorrect),
            undefendedCleanAccuracy: acc((x) => x.undefendedCleanCorrect),
            undefendedRobustAccuracy: acc((x) => x.undefendedRobustCorrect),
            epsText: e.text,
            spec: d.defence,
            norm: rs[0]?.norm ?? d.norm ?? '',
            adaptive: false,
            shards: { done: rs.length, total: shardsPerRow ?? rs.length },
          });
        }
      }
    }
  }
  return out;
}

function scorecardRows(spec: CampaignSpec, rows: JobResultRow[]): ScorecardResultRow[] {
  const out: ScorecardResultRow[] = [];
  const sc = spec.scorecard;
  if (!sc) return out;
  for (const m of spec.models) {
    if (!appliesTo(sc, m.name)) continue;
    for (const name of sc.defences) {
      for (const e of sc.eps) {
        const r = rows.find(
          (x) => x.kind === 'scorecard' && x.model === m.name && x.detector === name && sameEps(x.eps, e.value),
        );
        if (!r) continue;
        const { row, baseline, n, quick } = r.result as ScorecardJobResult;
        out.push({
          model: m.name,
          defence: name,
          eps: e.value,
          epsText: e.text,
          n,
          verdict: row.verdict,
          cleanAccuracy: row.cleanAccuracy,
          nonAdaptive: { attack: row.nonAdaptive.attack, fooledAndUndetected: row.nonAdaptive.fooledAndUndetected },
          adaptive: { attack: row.adaptive.attack, fooledAndUndetected: row.adaptive.fooledAndUndetected },
          gradientMasking: row.gradientMasking,
          sanity: row.sanity.skipped ? 'skipped' : row.sanity.passed ? 'passed' : row.sanity.failures.join(', '),
          baseline: {
            cleanAccuracy: baseline.cleanAccuracy,
            robustAccuracy: baseline.robustAccuracy,
            attack: baseline.attack,
          },
          quick,
          seconds: r.seconds,
        });
      }
    }
  }
  return out;
}

export async function listCampaigns(
  store: CampaignStore,
): Promise<
  Array<{ id: string; name: string; status: CampaignState; shards: { total: number; done: number; failed: number } }>
> {
  const out = [];
  for (const c of await store.listCampaigns()) {
    const s = await campaignStatus(store, c.id);
    out.push({ id: s.id, name: s.name, status: s.status, shards: s.shards });
  }
  return out;
}

export async function campaignSamples(
  store: CampaignStore,
  id: string,
  q: SampleQuery = {},
): Promise<{ total: number; rows: SampleRow[] }> {
  return store.samples(id, q);
}

export async function sampleImages(
  store: CampaignStore,
  id: string,
  sampleKey: string,
): Promise<{ clean: Buffer; adversarial: Buffer; difference: Buffer } | null> {
  const r: SampleImageRow | null = await store.sampleImages(id, sampleKey);
  return r ? { clean: r.clean, adversarial: r.adversarial, difference: r.difference } : null;
}

/** CSV of the results: one line per stored job result (attack shards and detection rows), with its provenance. */
export async function campaignCsv(store: CampaignStore, id: string): Promise<string> {
  if (!(await store.getCampaign(id))) throw notFound(`no campaign '${id}' in ${store.where}`);
  const rows = await store.results(id);
  const cols = [
    'job_key',
    'kind',
    'model',
    'attack',
    'eps',
    'shard',
    'detector',
    'test_attack',
    'n',
    'clean_accuracy',
    'robust_accuracy',
    'attack_success_rate',
    'auc',
    'tpr_at_5_fpr',
    'seed',
    'backend',
    'worker_id',
    'seconds',
    'medshield_version',
    'git_commit',
    'spec_hash',
    'defence',
    'verdict',
  ];
  const cell = (v: unknown): string => {
    if (v === null || v === undefined) return '';
    const s = String(v);
    return /[",\n\r]/.test(s) || /^[=+\-@\t]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const lines = [cols.join(',')];
  for (const r of rows) {
    const base = [r.jobKey, r.kind, r.model, r.attack, r.eps, r.shard, r.detector];
    const tail = [r.seed, r.backend, r.workerId, r.seconds, r.medshieldVersion, r.gitCommit, r.specHash];
    if (r.kind === 'defend') {
      const x = r.result as DefendJobResult;
      const acc = (v: number): number => round(v / x.n);
      const row = [...base, '', x.n, acc(x.cleanCorrect), acc(x.robustCorrect), '', '', '', ...tail, x.defence, ''];
      lines.push(row.map(cell).join(','));
    } else if (r.kind === 'scorecard') {
      const x = r.result as ScorecardJobResult;
      const row = [...base, '', x.n, x.row.cleanAccuracy, '', '', '', '', ...tail, x.row.defence, x.row.verdict];
      lines.push(row.map(cell).join(','));
    } else if (r.kind === 'attack') {
      const x = r.result as AttackJobResult;
      lines.push(
        [
          ...base,
          '',
          x.n,
          round(x.cleanCorrect / x.n),
          round(x.robustCorrect / x.n),
          x.attacked ? round(x.succeeded / x.attacked) : null,
          '',
          '',
          ...tail,
          '',
          '',
        ]
          .map(cell)
          .join(','),
      );
    } else {
      for (const d of (r.result as DetectJobResult).rows as Array<{
        attack: string;
        n: number;
        auc: number | null;
        tprAt5Fpr: number | null;
      }>) {
        lines.push([...base, d.attack, d.n, '', '', '', d.auc, d.tprAt5Fpr, ...tail, '', ''].map(cell).join(','));
      }
    }
  }
  return lines.join('\n') + '\n';
}

/** The status as lines for people (the CLI without --json). */
export function statusText(s: CampaignStatus): string {
  const failed = s.shards.failed ? `, ${s.shards.failed} failed` : '';
  const lines = [`${s.id}: ${s.status}, ${s.shards.done}/${s.shards.total} jobs${failed}, ${s.seconds.toFixed(1)} s`];
  for (const r of s.results) {
    const asr = r.attackSuccessRate?.toFixed(4) ?? '—';
    lines.push(
      `  ${r.model} ${r.attack} ε=${r.epsText} n=${r.n}: clean ${r.cleanAccuracy.toFixed(4)}` +
        ` → robust ${r.robustAccuracy.toFixed(4)}, success ${asr}`,
    );
  }
  for (const d of s.detection) {
    lines.push(
      `  ${d.model} ${d.detector} (fit ${d.trainAttack}) on ${d.attack} ε=${d.epsText}:` +
        ` AUC ${d.auc ?? '—'}, TPR@5%FPR ${d.tprAt5Fpr ?? '—'}`,
    );
  }
  for (const d of s.defences) {
    lines.push(
      `  ${d.model} ${d.defence} vs ${d.attack} ε=${d.epsText} n=${d.n} (non-adaptive): clean ` +
        `${d.cleanAccuracy.toFixed(4)} → robust ${d.robustAccuracy.toFixed(4)} ` +
        `(undefended ${d.undefendedRobustAccuracy.toFixed(4)})`,
    );
  }
  for (const r of s.scorecard) {
    lines.push(
      `  ${r.model} scorecard ${r.defence} ε=${r.epsText} n=${r.n}: ${r.verdict}, fooled&undetected ` +
        `${r.nonAdaptive.fooledAndUndetected.toFixed(3)} → ${r.adaptive.fooledAndUndetected.toFixed(3)} ` +
        `(${r.adaptive.attack})`,
    );
  }
  return lines.join('\n') + '\n';
}
