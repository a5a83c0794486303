/** White-box evasion attacks (NIST AI 100-2 "evasion"; MITRE ATLAS AML.T0043 Craft Adversarial Data). */
export type { Attack, AttackOptions, AttackResult, Criterion, LabelChoice, LossName, Norm, ThreatModel } from './types.js';
export { NORMS } from './types.js';
export { ATTACKS, ATTACK_NAMES, getAttack } from './registry.js';
export { makeGoal, type Goal } from './goal.js';
export { project, withinBall, perturbationSize, rowNorms } from './project.js';
export { parseEpsilon, parseEpsilonList } from './epsilon.js';
