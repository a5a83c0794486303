/** Shapes of the dashboard's JSON API (src/dashboard/routes/*.ts). */
export interface CampaignSummary {
  id: string;
  name: string;
  status: string;
  shards: { total: number; done: number; failed?: number };
}
export interface ResultRow {
  model: string;
  attack: string;
  eps: number;
  n: number;
  cleanAccuracy: number;
  robustAccuracy: number;
  attackSuccessRate: number | null;
  epsText?: string;
  norm?: string;
  algorithm?: string;
  meanQueries?: number | null;
}
export interface DetectionRow {
  model: string;
  detector: string;
  attack: string;
  eps: number;
  auc: number;
  tprAt5Fpr: number;
}
/** One defence × attack × ε of a model (spec `defences:`; non-adaptive, as `medshield defend`). */
export interface DefenceRow {
  model: string;
  defence: string;
  attack: string;
  eps: number;
  n: number;
  cleanAccuracy: number;
  robustAccuracy: number;
  undefendedCleanAccuracy: number;
  undefendedRobustAccuracy: number;
  epsText: string;
  spec: string;
  norm: string;
  adaptive: boolean;
  shards: { done: number; total: number };
}
/** One scorecard row × ε of a model (spec `scorecard:`): the verdict of `medshield scorecard` for that row. */
export interface ScorecardRow {
  model: string;
  defence: string;
  eps: number;
  epsText: string;
  n: number;
  verdict: string;
  cleanAccuracy: number;
  nonAdaptive: { attack: string; fooledAndUndetected: number };
  adaptive: { attack: string; fooledAndUndetected: number };
  gradientMasking: boolean;
  sanity: string;
  baseline: { cleanAccuracy: number; robustAccuracy: number; attack: string };
  quick: boolean;
  seconds: number;
}
export interface CampaignStatus {
  id: string;
  name: string;
  status: string;
  specHash: string;
  shards: { total: number; done: number; failed: number };
  results: ResultRow[];
  detection: DetectionRow[];
  /** Absent from a store written before defences and scorecard rows existed: read as empty. */
  defences?: DefenceRow[];
  scorecard?: ScorecardRow[];
  seconds: number;
}
export interface ModelInfo {
  name: string;
  sha256: string | null;
  architecture: string;
  dataset: string;
  metrics: Record<string, Record<string, number>> | null;
  source: string[];
  onnx: boolean;
  campaigns: string[];
  classes: string[];
  parameters: number | null;
  training: { command?: string; epochs?: number; seed?: number; seconds?: number } | null;
  datasetSha256: string | null;
  createdAt: string | null;
}
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
  attacked: boolean;
  linf: number | null;
  l2: number | null;
  queries: number | null;
  amplification: number | null;
}
export interface SamplePage {
  total: number;
  offset: number;
  limit: number;
  rows: SampleView[];
  facets: { models: string[]; attacks: string[]; eps: number[]; classes: Array<{ value: number; name: string }> };
}
export interface QueryCurve {
  rows: Array<{ model: string; attack: string; eps: number; queries: number; accuracy: number }>;
}
export interface Scorecard {
  detection: DetectionRow[];
  roc: Array<{ model: string; detector: string; attack: string; eps: number; fpr: number; tpr: number }>;
  defences: DefenceRow[];
  scorecard: ScorecardRow[];
}
