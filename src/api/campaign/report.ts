/**
 * `campaign report`: the existing HTML report builders (src/report/html.ts for attacks,
 * src/report/detection.ts for detectors) fed from the store instead of from in-memory evaluations.
 * One run per model × attack × ε (the attack is labelled "model · attack" when the campaign has
 * several models); means are weighted over shards by their attacked images, medians come from the
 * per-sample records, examples from the stored PNGs.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { resolveModelPath } from '../../models/io.js';
import { CARD_FILE, type ModelCard } from '../../models/card.js';
import type { AttackSummary } from '../../eval/robustness.js';
import { queryCurve } from '../../eval/robustness.js';
import { median } from '../../eval/image-quality.js';
import { detectionProtocol, type DetectionReport } from '../../eval/detection.js';
import { round } from '../../models/metrics.js';
import { esc, renderHtml } from '../../report/html.js';
import { NON_ADAPTIVE_NOTE } from '../../eval/defences.js';
import { renderDetection } from '../../report/detection.js';
import { REPORT_SCHEMA, THREAT_TAGS, type AttackReport, type ReportExample } from '../../report/schema.js';
import { VERSION, gitCommit } from '../../version.js';
import { notFound } from '../../errors.js';
import { campaignStatus, type DefenceResultRow, type ScorecardResultRow } from './aggregate.js';
import { isHttpRef, resolveModelRef } from './spec.js';
import type { AttackJobResult, DetectJobResult } from './shard.js';
import type { CampaignStore, JobResultRow, SampleRow } from './store/types.js';

function readCard(ref: string, baseDir?: string): ModelCard | null {
  try {
    const p = path.join(resolveModelPath(resolveModelRef(ref, baseDir)), CARD_FILE);
    return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as ModelCard) : null;
  } catch {
    return null;
  }
}

const weighted = (rs: AttackJobResult[], f: (s: Record<string, unknown>) => unknown): number | null => {
  let s = 0;
  let w = 0;
  for (const r of rs) {
    const v = f(r.summary);
    if (typeof v === 'number' && Number.isFinite(v) && r.attacked) {
      s += v * r.attacked;
      w += r.attacked;
    }
  }
  return w ? round(s / w, 6) : null;
};

/** The HTML report of a campaign, from the store. */
export async function campaignReportHtml(
  store: CampaignStore,
  id: string,
  o: { command?: string } = {},
): Promise<string> {
  const c = await store.getCampaign(id);
  if (!c) throw notFound(`no campaign '${id}' in ${store.where}`);
  const status = await campaignStatus(store, id);
  const spec = c.spec;
  const rows = await store.results(id);
  const several = spec.models.length > 1;
  const runs: AttackSummary[] = [];
  const perClass: AttackReport['perClass'] = [];
  const examples: ReportExample[] = [];
  // the first model with a card (an HTTP endpoint has none)
  const local = spec.models.find((m) => !isHttpRef(m.ref));
  const firstCard = local ? readCard(local.ref, spec.baseDir) : null;
  const classes = firstCard?.dataset.classes ?? [];
  let dataset: { name: string; sha256: string; path: string } | undefined;
  for (const r of status.results) {
    if (!r.n) continue;
    const jobs = rows.filter(
      (x): x is JobResultRow =>
        x.kind === 'attack' && x.model === r.model && x.attack === r.attack && Math.abs(x.eps - r.eps) < 1e-12,
    );
    const res = jobs.map((j) => j.result as AttackJobResult);
    const s0 = res[0].summary as unknown as AttackSummary & {
      dataset?: { name: string; sha256: string; path: string };
    };
    dataset ??= s0.dataset;
    const { rows: samples } = await store.samples(id, { model: r.model, attack: r.attack, eps: r.eps });
    const attacked = samples.filter((x) => x.attacked);
    const seconds = jobs.reduce((s, j) => s + j.seconds, 0);
    const q = attacked.filter((x) => x.success && x.queries !== null).map((x) => x.queries!);
    const budget = s0.maxQueries;
    runs.push({
      ...s0,
      attack: several ? `${r.model} · ${r.attack}` : r.attack,
      eps: r.eps,
      epsText: r.epsText,
      n: r.n,
      cleanAccuracy: r.cleanAccuracy,
      robustAccuracy: r.robustAccuracy,
      attackSuccessRate: r.attackSuccessRate,
      meanLinf: r.meanLinf,
      meanL2: r.meanL2,
      meanSSIM: weighted(res, (s) => s.meanSSIM),
      meanPSNR: weighted(res, (s) => s.meanPSNR),
      meanL0: weighted(res, (s) => s.meanL0),
      medianL0: null,
      medianSSIM: null,
      medianL2: attacked.length ? round(median(attacked.map((x) => x.l2)) ?? 0, 6) : null,
      medianLinf: attacked.length ? round(median(attacked.map((x) => x.linf)) ?? 0, 6) : null,
      seconds: round(seconds, 3),
      imagesPerSecond: seconds > 0 ? round(r.n / seconds, 2) : 0,
      attacked: attacked.length,
      queries: {
        forward: res.reduce((s, x) => s + ((x.summary.queries as { forward: number })?.forward ?? 0), 0),
        gradient: res.reduce((s, x) => s + ((x.summary.queries as { gradient: number })?.gradient ?? 0), 0),
      },
      notes: [...new Set(res.flatMap((x) => (x.summary.notes as string[]) ?? []))],
      seed: spec.seed,
      // per-shard only (no per-sample probabilities are stored): not shown for the whole sample
      cleanAuc: undefined,
      aucUnderAttack: undefined,
      components: undefined,
      ...(budget !== undefined
        ? {
            meanQueries: r.meanQueries,
            medianQueries: q.length ? median(q) : null,
            maxQueries: budget,
            queryCurve: queryCurve(q, attacked.length, budget),
          }
        : {}),
    });
    perClass.push(
      classes.length
        ? classes.map((className, k) => {
            const rs = attacked.filter((x) => x.label === k);
            return { className, correct: rs.length, flipped: rs.filter((x) => x.success).length };
          })
        : [],
    );
    examples.push(...(await examplesOf(store, id, samples, classes, r.attack, r.epsText, several ? r.model : '')));
  }
  const models = spec.models.map((m) => `${m.name} (${m.ref})`).join(', ');
  const title =
    `Campaign ${c.name}: adversarial robustness of ${spec.models.map((m) => m.name).join(', ')} ` +
    `on ${spec.data.dataset}`;
  const backend = [...new Set(rows.map((r) => r.backend))].join(', ') || 'unknown';
  const command = o.command ?? `medshield campaign run ${c.name}.yaml`;
  const report: AttackReport = {
    schema: REPORT_SCHEMA,
    title,
    provenance: {
      model: firstCard
        ? {
            name: several ? models : firstCard.name,
            architecture: firstCard.architecture.name,
            width: firstCard.architecture.width,
            parameters: firstCard.architecture.parameters,
            dataset: firstCard.dataset.name,
            task: firstCard.dataset.task,
            classes,
            testAccuracy: firstCard.metrics.test?.accuracy,
            testAuc: firstCard.metrics.test?.auc,
            createdAt: firstCard.createdAt,
            trainingSeed: firstCard.training?.seed,
            path: spec.models[0].ref,
          }
        : {
            name: models,
            architecture: 'unknown',
            width: 0,
            parameters: 0,
            dataset: spec.data.dataset,
            task: 'unknown',
            classes,
            createdAt: '',
            path: spec.models[0].ref,
          },
      dataset: {
        name: dataset?.name ?? spec.data.dataset,
        split: spec.data.split,
        n: status.results[0]?.n ?? 0,
        limit: spec.data.limit,
        sha256: dataset?.sha256 ?? '',
        path: dataset?.path ?? '',
        resolution: resolution(rows),
      },
      seed: spec.seed,
      medshieldVersion: VERSION,
      gitCommit: gitCommit(),
      engine: backend,
      command,
      createdAt: new Date().toISOString(),
    },
    runs,
    perClass,
    examples,
    threat: THREAT_TAGS,
    notes: [
      `campaign ${c.id} (spec sha256 ${c.specHash}), ${status.shards.done}/${status.shards.total} jobs done` +
        `${status.shards.failed ? `, ${status.shards.failed} failed` : ''}; one run per model × attack × ε over all ` +
        'shards; per-shard attack seeds are derived from the campaign seed and the job key',
    ],
  };
  const detection = detectionReports(
    rows,
    spec.detectors.map((d) => d.detector),
    several,
  );
  const fitSplit = spec.detectors[0]?.fitSplit ?? 'train';
  const detHtml = detection.length
    ? await renderDetection(
        detection.map((d) => ({ ...d, protocol: detectionProtocol(fitSplit) })),
        { model: models, dataset: spec.data.dataset, seed: spec.seed, command, classes },
      )
    : '';
  const extra = defencesHtml(status.defences, several) + scorecardHtml(status.scorecard, several);
  const withExtra = (html: string): string =>
    extra ? html.replace('<h2>Provenance</h2>', `${extra}\n<h2>Provenance</h2>`) : html;
  if (!runs.length && detHtml) return withExtra(detHtml);
  const html = await renderHtml(report);
  if (!detHtml) return withExtra(html);
  const body = /<body>([\s\S]*)<\/body>/.exec(detHtml)?.[1] ?? '';
  const section = body
    .replace(/<h1>[\s\S]*?<\/h1>/, '')
    .replace(/<h2>Provenance<\/h2>[\s\S]*$/, '')
    .replace(/<h2>/g, '<h3>')
    .replace(/<\/h2>/g, '</h3>')
    .replace(/id="report-data"/g, 'id="detection-data"');
  return withExtra(
    html.replace(
      '<h2>Provenance</h2>',
      `<h2 id="detection">Detection of adversarial examples</h2>${section}\n<h2>Provenance</h2>`,
    ),
  );
}

const f4 = (v: number): string => v.toFixed(4);

/** The defences table: the defended model's clean and robust accuracy beside the undefended model's. */
function defencesHtml(rows: DefenceResultRow[], several: boolean): string {
  if (!rows.length) return '';
  const body = rows
    .map(
      (r) =>
        `<tr><td>${esc(several ? `${r.model} · ${r.defence}` : r.defence)}</td><td>${esc(r.attack)}</td>` +
        `<td>${esc(r.norm)}</td><td>${esc(r.epsText)}</td><td>${r.n}</td><td>${f4(r.cleanAccuracy)}</td>` +
        `<td>${f4(r.robustAccuracy)}</td><td>${f4(r.undefendedCleanAccuracy)}</td>` +
        `<td>${f4(r.undefendedRobustAccuracy)}</td></tr>`,
    )
    .join('\n');
  return (
    `<h2 id="defences">Defences (non-adaptive)</h2>\n<p>${esc(NON_ADAPTIVE_NOTE)}. The adaptive attacker ` +
    `(BPDA, EOT) is in the scorecard rows.</p>\n<table><thead><tr><th>defence</th><th>attack</th><th>norm</th>` +
    `<th>ε</th><th>n</th><th>clean</th><th>robust</th><th>undefended clean</th><th>undefended robust</th>` +
    `</tr></thead><tbody>\n${body}\n</tbody></table>`
  );
}

/** The scorecard rows: non-adaptive → adaptive fooled-and-undetected, sanity checks and verdict. */
function scorecardHtml(rows: ScorecardResultRow[], several: boolean): string {
  if (!rows.length) return '';
  const body = rows
    .map(
      (r) =>
        `<tr><td>${esc(several ? `${r.model} · ${r.defence}` : r.defence)}</td><td>${esc(r.epsText)}</td>` +
        `<td>${r.n}</td><td>${f4(r.cleanAccuracy)}</td><td>${f4(r.nonAdaptive.fooledAndUndetected)}</td>` +
        `<td>${f4(r.adaptive.fooledAndUndetected)}</td><td>${esc(r.adaptive.attack)}</td><td>${esc(r.sanity)}</td>` +
        `<td>${esc(r.verdict)}${r.gradientMasking ? ' (gradient masking)' : ''}</td></tr>`,
    )
    .join('\n');
  return (
    `<h2 id="scorecard">Scorecard: defences against the adaptive attacker</h2>\n<p>Fooled and undetected among ` +
    `the originally correct images, non-adaptive and adaptive (Tramèr et al., NeurIPS 2020), as ` +
    `<code>medshield scorecard</code>${rows.some((r) => r.quick) ? ' --quick' : ''} computes them; one job per ` +
    `row and ε.</p>\n<table><thead><tr><th>row</th><th>ε</th><th>n</th><th>clean</th><th>non-adaptive f&amp;u</th>` +
    `<th>adaptive f&amp;u</th><th>adaptive attack</th><th>sanity</th><th>verdict</th></tr></thead><tbody>\n` +
    `${body}\n</tbody></table>`
  );
}

function resolution(rows: JobResultRow[]): string {
  const r = rows.find((x) => x.kind === 'attack')?.result as AttackJobResult | undefined;
  const shape = (r?.summary as { shape?: number[] } | undefined)?.shape;
  return shape ? `${shape[0]}×${shape[1]}${shape[2] === 3 ? ' RGB' : ' grey'}` : '';
}

async function examplesOf(
  store: CampaignStore,
  id: string,
  samples: SampleRow[],
  classes: string[],
  attack: string,
  epsText: string,
  model: string,
): Promise<ReportExample[]> {
  const name = (v: number | number[]): string =>
    Array.isArray(v)
      ? v
          .map((b, j) => (b ? classes[j] : null))
          .filter(Boolean)
          .join(', ') || 'none'
      : (classes[v] ?? String(v));
  const pick = samples
    .filter((x) => x.attacked)
    .sort((a, b) => Number(b.success) - Number(a.success) || a.position - b.position)
    .slice(0, 4);
  const out: ReportExample[] = [];
  for (const s of pick) {
    const im = await store.sampleImages(id, s.sampleKey);
    if (!im) continue;
    out.push({
      attack: model ? `${model} · ${attack}` : attack,
      epsText,
      index: s.datasetIndex,
      label: name(s.label),
      cleanPrediction: name(s.cleanPrediction),
      adversarialPrediction: name(s.adversarialPrediction),
      cleanConfidence: s.cleanConfidence,
      adversarialConfidence: s.adversarialConfidence,
      linf: s.linf,
      original: im.clean.toString('base64'),
      adversarial: im.adversarial.toString('base64'),
      difference: im.difference.toString('base64'),
    });
  }
  return out;
}

function detectionReports(rows: JobResultRow[], order: string[], several: boolean): DetectionReport[] {
  const out: DetectionReport[] = [];
  for (const r of rows
    .filter((x) => x.kind === 'detect')
    .sort((a, b) => order.indexOf(a.detector!) - order.indexOf(b.detector!) || a.eps - b.eps)) {
    const d = r.result as DetectJobResult;
    const detector = several ? `${r.model} · ${d.detector}` : d.detector;
    let rep = out.find((x) => x.detector === detector && x.trainAttack === d.trainAttack);
    if (!rep) {
      rep = { detector, trainAttack: d.trainAttack, protocol: '', results: [] };
      out.push(rep);
    }
    for (const x of d.rows) {
      const { scores: _s, ...row } = x as Record<string, unknown>;
      rep.results.push(row as unknown as DetectionReport['results'][number]);
    }
  }
  return out;
}
