/**
 * The campaign results store (issue 22, item 3): campaigns, one row per finished job (written once:
 * insert-if-absent on (campaign, job key), so a retried job never counts twice), the job failures,
 * per-sample records and their 8-bit PNGs (a separate table, read by the dashboard's gallery).
 * Two implementations with the same tables: SQLite (one machine, a file next to the spec) and
 * PostgreSQL (many machines).
 */
import type { CampaignSpec } from '../spec.js';

export type CampaignState = 'planned' | 'running' | 'done' | 'failed';

export interface CampaignRow {
  id: string;
  name: string;
  specHash: string;
  spec: CampaignSpec;
  jobsTotal: number;
  state: CampaignState;
  createdAt: string;
  updatedAt: string;
  /** Wall seconds spent running it, summed over runs. */
  seconds: number;
}

/** One finished job: what it computed (`result`, JSON) and where/how. */
export interface JobResultRow {
  campaignId: string;
  jobKey: string;
  kind: 'attack' | 'detect' | 'defend' | 'scorecard';
  model: string;
  attack: string;
  eps: number;
  shard: number | null;
  detector: string | null;
  result: unknown;
  specHash: string;
  medshieldVersion: string;
  gitCommit: string | null;
  backend: string;
  seed: number;
  workerId: string;
  seconds: number;
  createdAt: string;
}

/** A per-sample record of an attack job. `sampleKey` is unique within the campaign. */
export interface SampleRow {
  sampleKey: string;
  jobKey: string;
  model: string;
  attack: string;
  eps: number;
  epsText: string;
  /** Position in the campaign's seeded sample, and index in the dataset split. */
  position: number;
  datasetIndex: number;
  label: number | number[];
  cleanPrediction: number | number[];
  adversarialPrediction: number | number[];
  cleanConfidence: number;
  adversarialConfidence: number;
  attacked: boolean;
  success: boolean;
  linf: number;
  l2: number;
  queries: number | null;
}

/** 8-bit PNGs of one sample: clean, adversarial and the amplified difference. */
export interface SampleImageRow {
  sampleKey: string;
  clean: Buffer;
  adversarial: Buffer;
  difference: Buffer;
}

export interface SampleQuery {
  model?: string;
  attack?: string;
  eps?: number;
  flipped?: boolean;
  label?: number;
  offset?: number;
  limit?: number;
}

export interface JobFailure {
  jobKey: string;
  error: string;
  attempts: number;
  workerId: string;
  updatedAt: string;
}

export interface CampaignStore {
  readonly kind: 'sqlite' | 'postgres';
  /** Where it is (a file path, or the URL without password). */
  readonly where: string;
  /** Insert the campaign if absent; true when inserted. */
  createCampaign(c: CampaignRow): Promise<boolean>;
  getCampaign(id: string): Promise<CampaignRow | null>;
  listCampaigns(): Promise<CampaignRow[]>;
  /** Set the state (and add wall seconds). */
  setCampaignState(id: string, state: CampaignState, addSeconds?: number): Promise<void>;
  /**
   * Write a job's result with its samples and images in one transaction, only if the job has no result yet; true when
   * written.
   */
  putResult(r: JobResultRow, samples?: SampleRow[], images?: SampleImageRow[]): Promise<boolean>;
  results(campaignId: string): Promise<JobResultRow[]>;
  doneKeys(campaignId: string): Promise<Set<string>>;
  /** Whether one job has a stored result. */
  hasResult(campaignId: string, jobKey: string): Promise<boolean>;
  /** Record (or count again) a failed attempt of a job. */
  recordFailure(campaignId: string, jobKey: string, error: string, workerId: string): Promise<void>;
  failures(campaignId: string): Promise<JobFailure[]>;
  samples(campaignId: string, q?: SampleQuery): Promise<{ total: number; rows: SampleRow[] }>;
  sampleImages(campaignId: string, sampleKey: string): Promise<SampleImageRow | null>;
  close(): Promise<void>;
}

/** The tables, in SQL both SQLite and PostgreSQL accept (BLOB is spelt per dialect). */
export function schemaSql(blob: 'BLOB' | 'BYTEA', real: 'REAL' | 'DOUBLE PRECISION'): string {
  return (
    `
CREATE TABLE IF NOT EXISTS campaigns (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, spec_hash TEXT NOT NULL, spec TEXT NOT NULL, jobs_total INTEGER NOT NULL,
  state TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, seconds ${real} NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS results (
  campaign_id TEXT NOT NULL, job_key TEXT NOT NULL, kind TEXT NOT NULL, model TEXT NOT NULL, attack TEXT NOT NULL,
  eps ${real} NOT NULL, shard INTEGER, detector TEXT, result TEXT NOT NULL, spec_hash TEXT NOT NULL,
  medshield_version TEXT NOT NULL, git_commit TEXT, backend TEXT NOT NULL, seed BIGINT NOT NULL, ` +
    `worker_id TEXT NOT NULL,
  seconds ${real} NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (campaign_id, job_key));
CREATE TABLE IF NOT EXISTS failures (
  campaign_id TEXT NOT NULL, job_key TEXT NOT NULL, error TEXT NOT NULL, attempts INTEGER NOT NULL, ` +
    `worker_id TEXT NOT NULL,
  updated_at TEXT NOT NULL, PRIMARY KEY (campaign_id, job_key));
CREATE TABLE IF NOT EXISTS samples (
  campaign_id TEXT NOT NULL, sample_key TEXT NOT NULL, job_key TEXT NOT NULL, model TEXT NOT NULL, attack TEXT NOT NULL,
  eps ${real} NOT NULL, eps_text TEXT NOT NULL, position INTEGER NOT NULL, dataset_index INTEGER NOT NULL, ` +
    `label TEXT NOT NULL,
  label_value INTEGER, clean_pred TEXT NOT NULL, adv_pred TEXT NOT NULL, clean_conf ${real} NOT NULL, ` +
    `adv_conf ${real} NOT NULL,
  attacked INTEGER NOT NULL, success INTEGER NOT NULL, linf ${real} NOT NULL, l2 ${real} NOT NULL, queries INTEGER,
  PRIMARY KEY (campaign_id, sample_key));
CREATE INDEX IF NOT EXISTS samples_run ON samples (campaign_id, model, attack, eps, position);
CREATE TABLE IF NOT EXISTS sample_images (
  campaign_id TEXT NOT NULL, sample_key TEXT NOT NULL, clean ${blob} NOT NULL, adversarial ${blob} NOT NULL,
  difference ${blob} NOT NULL, PRIMARY KEY (campaign_id, sample_key));`
  );
}

export const SAMPLE_COLUMNS = [
  'campaign_id',
  'sample_key',
  'job_key',
  'model',
  'attack',
  'eps',
  'eps_text',
  'position',
  'dataset_index',
  'label',
  'label_value',
  'clean_pred',
  'adv_pred',
  'clean_conf',
  'adv_conf',
  'attacked',
  'success',
  'linf',
  'l2',
  'queries',
] as const;

export const RESULT_COLUMNS = [
  'campaign_id',
  'job_key',
  'kind',
  'model',
  'attack',
  'eps',
  'shard',
  'detector',
  'result',
  'spec_hash',
  'medshield_version',
  'git_commit',
  'backend',
  'seed',
  'worker_id',
  'seconds',
  'created_at',
] as const;

type Sql = string | number | null;

export function sampleValues(campaignId: string, s: SampleRow): Sql[] {
  return [
    campaignId,
    s.sampleKey,
    s.jobKey,
    s.model,
    s.attack,
    s.eps,
    s.epsText,
    s.position,
    s.datasetIndex,
    JSON.stringify(s.label),
    typeof s.label === 'number' ? s.label : null,
    JSON.stringify(s.cleanPrediction),
    JSON.stringify(s.adversarialPrediction),
    s.cleanConfidence,
    s.adversarialConfidence,
    s.attacked ? 1 : 0,
    s.success ? 1 : 0,
    s.linf,
    s.l2,
    s.queries,
  ];
}

export function resultValues(r: JobResultRow): Sql[] {
  return [
    r.campaignId,
    r.jobKey,
    r.kind,
    r.model,
    r.attack,
    r.eps,
    r.shard,
    r.detector,
    JSON.stringify(r.result),
    r.specHash,
    r.medshieldVersion,
    r.gitCommit,
    r.backend,
    r.seed,
    r.workerId,
    r.seconds,
    r.createdAt,
  ];
}

export function toSample(r: Record<string, unknown>): SampleRow {
  return {
    sampleKey: String(r.sample_key),
    jobKey: String(r.job_key),
    model: String(r.model),
    attack: String(r.attack),
    eps: Number(r.eps),
    epsText: String(r.eps_text),
    position: Number(r.position),
    datasetIndex: Number(r.dataset_index),
    label: JSON.parse(String(r.label)),
    cleanPrediction: JSON.parse(String(r.clean_pred)),
    adversarialPrediction: JSON.parse(String(r.adv_pred)),
    cleanConfidence: Number(r.clean_conf),
    adversarialConfidence: Number(r.adv_conf),
    attacked: !!Number(r.attacked),
    success: !!Number(r.success),
    linf: Number(r.linf),
    l2: Number(r.l2),
    queries: r.queries === null || r.queries === undefined ? null : Number(r.queries),
  };
}

export function toResult(r: Record<string, unknown>): JobResultRow {
  return {
    campaignId: String(r.campaign_id),
    jobKey: String(r.job_key),
    kind: r.kind as JobResultRow['kind'],
    model: String(r.model),
    attack: String(r.attack),
    eps: Number(r.eps),
    shard: r.shard === null ? null : Number(r.shard),
    detector: (r.detector as string | null) ?? null,
    result: JSON.parse(String(r.result)),
    specHash: String(r.spec_hash),
    medshieldVersion: String(r.medshield_version),
    gitCommit: (r.git_commit as string | null) ?? null,
    backend: String(r.backend),
    seed: Number(r.seed),
    workerId: String(r.worker_id),
    seconds: Number(r.seconds),
    createdAt: String(r.created_at),
  };
}

export function toCampaign(r: Record<string, unknown>): CampaignRow {
  return {
    id: String(r.id),
    name: String(r.name),
    specHash: String(r.spec_hash),
    spec: JSON.parse(String(r.spec)),
    jobsTotal: Number(r.jobs_total),
    state: r.state as CampaignState,
    createdAt: String(r.created_at),
    updatedAt: String(r.updated_at),
    seconds: Number(r.seconds),
  };
}

/** WHERE clause and parameters of a sample query (placeholders made by `ph(i)`, 1-based). */
export function sampleWhere(
  campaignId: string,
  q: SampleQuery,
  ph: (i: number) => string,
): { where: string; params: Sql[] } {
  const conds = [`campaign_id = ${ph(1)}`];
  const params: Sql[] = [campaignId];
  const add = (sql: (p: string) => string, v: Sql): void => {
    params.push(v);
    conds.push(sql(ph(params.length)));
  };
  if (q.model !== undefined) add((p) => `model = ${p}`, q.model);
  if (q.attack !== undefined) add((p) => `attack = ${p}`, q.attack);
  if (q.eps !== undefined) add((p) => `ABS(eps - ${p}) < 1e-9`, q.eps);
  if (q.flipped !== undefined) add((p) => `success = ${p}`, q.flipped ? 1 : 0);
  if (q.label !== undefined) add((p) => `label_value = ${p}`, q.label);
  return { where: conds.join(' AND '), params };
}
