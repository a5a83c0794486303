/**
 * Campaigns (issue 22, items 2–4): a spec of models × attacks × ε × defences × detectors × scorecard rows,
 * expanded into jobs, run
 * in process or on a queue, with every result in one store. docs/campaigns.md describes the format.
 */
export {
  loadCampaignSpec,
  parseCampaignSpec,
  validateCampaignSpec,
  campaignId,
  specHash,
  canonicalJson,
  isHttpRef,
  CAMPAIGN_SCHEMA,
} from './spec.js';
export type {
  CampaignSpec,
  ModelEntry,
  ModelTargetOptions,
  AttackEntry,
  DetectorEntry,
  DefenceEntry,
  ScorecardEntry,
  EpsValue,
} from './spec.js';
export { planCampaign, prepareCampaign, jobSeed, jobCost, NOMINAL_GRADIENT_SECONDS } from './plan.js';
export type { CampaignPlan, CampaignEstimate, Job, AttackJob, DetectJob, DefendJob, ScorecardJob } from './plan.js';
export { runJob, sampleKey } from './shard.js';
export type {
  JobContext,
  JobResult,
  AttackJobResult,
  DetectJobResult,
  DefendJobResult,
  ScorecardJobResult,
} from './shard.js';
export { runCampaignLocal, registerCampaign } from './local.js';
export type { CampaignProgress, LocalRunOptions } from './local.js';
export { campaignStatus, listCampaigns, campaignSamples, sampleImages, campaignCsv, statusText } from './aggregate.js';
export type {
  CampaignStatus,
  ResultRow,
  DetectionResultRow,
  DefenceResultRow,
  ScorecardResultRow,
} from './aggregate.js';
export { openStore, defaultStorePath } from './store/index.js';
export type {
  CampaignStore,
  CampaignRow,
  CampaignState,
  JobResultRow,
  SampleRow,
  SampleImageRow,
  SampleQuery,
  JobFailure,
} from './store/index.js';
export { campaignReportHtml } from './report.js';
export {
  loadCampaign,
  planSummary,
  planText,
  runCampaign,
  withCampaign,
  withStore,
  exportCampaign,
  writeCampaignReport,
  campaignListText,
} from './run.js';
export type { CampaignPlanSummary, RunCampaignOptions } from './run.js';
