/**
 * The library API: one verb per experiment, each taking a typed, JSON-serialisable spec validated by
 * its JSON Schema, and returning a typed result. The CLI commands, the gateway, the dashboard and the
 * campaign workers are shells over these. Keep this file a plain list of `export … from` lines.
 */
export * from './common.js';
export {
  attack,
  attackJson,
  attackText,
  ATTACK_SPEC_SCHEMA,
  ATTACK_NAMES,
  type AttackSpec,
  type AttackResult,
  type AttackRun,
  type AttackRecord,
  type AttackVerbOptions,
} from './attack.js';
export { evaluate, EVALUATE_SPEC_SCHEMA, type EvaluateSpec, type EvaluateResult } from './evaluate.js';
export { certify, certifyJson, CERTIFY_SPEC_SCHEMA, type CertifySpec, type CertifyResult } from './certify.js';
export {
  defend,
  defendText,
  DEFEND_SPEC_SCHEMA,
  type DefendSpec,
  type DefendResult,
  type DefenceRow,
} from './defend.js';
export { predict, PREDICT_SPEC_SCHEMA, type PredictSpec, type Prediction } from './predict.js';
export { universal, UNIVERSAL_SPEC_SCHEMA, type UniversalSpec, type UniversalResult } from './universal.js';
export {
  patch,
  patchText,
  PATCH_SPEC_SCHEMA,
  PATCH_MODES,
  type PatchSpec,
  type PatchVerbResult,
  type PatchRow,
} from './patch.js';
export { train, trainText, TRAIN_SPEC_SCHEMA, type TrainSpec, type TrainResult } from './train.js';
export {
  detect,
  checkDetectSpec,
  formatDetect,
  DETECT_SPEC_SCHEMA,
  DETECT_TEST_ATTACKS,
  type DetectSpec,
  type DetectResult,
  type DetectRow,
  type DetectSampleScore,
  type DetectReport,
  type DetectOptions,
} from './detect.js';
export {
  scorecard,
  checkScorecardSpec,
  formatScorecard,
  formatScorecardPlan,
  SCORECARD_SPEC_SCHEMA,
  type ScorecardSpec,
  type ScorecardOptions,
  type Scorecard,
  type ScorecardRow,
  type ScorecardPlan,
} from './scorecard.js';
export {
  replicate,
  checkReplicateSpec,
  formatReplication,
  REPLICATE_SPEC_SCHEMA,
  type ReplicateSpec,
  type ReplicateResult,
  type Paper,
} from './replicate.js';
export {
  replicateAmit,
  formatAmit,
  AMIT_CLAIM,
  AMIT_DEFENCES,
  type AmitOptions,
  type AmitResult,
} from './replicate-amit.js';
export {
  demo,
  formatDemo,
  formatDemoPlan,
  DEMO_SPEC_SCHEMA,
  type DemoSpec,
  type DemoResult,
  type DemoSummary,
} from './demo.js';
export { importModel, IMPORT_MODEL_SPEC_SCHEMA, type ImportModelSpec, type ImportResult } from './model.js';
// Campaigns (src/api/campaign): spec → jobs → store, run in process or on the queue — every export of its index.
export * from './campaign/index.js';
