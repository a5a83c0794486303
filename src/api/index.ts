/**
 * The library API: one verb per experiment, each taking a typed, JSON-serialisable spec validated by
 * its JSON Schema, and returning a typed result. The CLI commands, the gateway, the dashboard and the
 * campaign workers are shells over these. Keep this file a plain list of `export … from` lines.
 */
export * from './common.js';
export { attack, attackJson, attackText, ATTACK_SPEC_SCHEMA, ATTACK_NAMES, type AttackSpec, type AttackResult, type AttackRun, type AttackRecord, type AttackVerbOptions } from './attack.js';
export { evaluate, EVALUATE_SPEC_SCHEMA, type EvaluateSpec, type EvaluateResult } from './evaluate.js';
export { certify, certifyJson, CERTIFY_SPEC_SCHEMA, type CertifySpec, type CertifyResult } from './certify.js';
export { defend, defendText, DEFEND_SPEC_SCHEMA, type DefendSpec, type DefendResult, type DefenceRow } from './defend.js';
