/**
 * The hardened inference gateway (issue 11): verify-before-infer, auth, rate limits, query-attack detection, audit log.
 */
export { createGateway, type Gateway, type GatewayOptions } from './server.js';
export {
  loadGatewayConfig,
  validateGatewayConfig,
  resolveConfigPaths,
  configReference,
  auditCheckpointFile,
  CONFIG_SCHEMA,
  type GatewayConfig,
} from './config.js';
export { initGateway, uncommentExample, type InitResult } from './init.js';
export { addKey, revokeKey, listKeys, KeyStore, ROLES, type Role } from './keys.js';
export { openAuditStore, type AuditStore } from './audit/store.js';
export { AuditLog } from './audit/log.js';
export { verifyChain, type ChainReport, type VerifyOptions } from './audit/verify.js';
export { verifyAuditLog, type AuditVerifySpec } from './audit/verify-log.js';
export { defaultCheckpoint } from './audit/checkpoint.js';
export {
  gatewayApi,
  verifyGatewayAudit,
  gatewayOverview,
  refusalReason,
  REFUSAL_REASONS,
  type RefusalReason,
  type PublicRecord,
  type GatewayOverview,
} from './audit/summary.js';
export { QueryDetector, fingerprint, BLACKLIGHT_DEFAULTS, type DetectorOptions } from './query-detector.js';
