/** Assemble an AttackReport from evaluations, the model card and the dataset. */
import type { ModelCard } from '../models/card.js';
import type { AttackEvaluation, Images } from '../eval/robustness.js';
import { makeExamples } from '../eval/examples.js';
import { VERSION, gitCommit } from '../version.js';
import { REPORT_SCHEMA, THREAT_TAGS, type AttackReport, type Provenance } from './schema.js';

export interface BuildInput {
  title?: string;
  card: ModelCard;
  modelPath: string;
  dataset: { name: string; split: string; sha256: string; path: string; limit?: number };
  images: Images;
  evaluations: AttackEvaluation[];
  seed: number;
  engine: string;
  command: string;
  examplesPerRun?: number;
  notes?: string[];
}

export function buildReport(b: BuildInput): AttackReport {
  const classes = b.card.dataset.classes;
  const [h, w, c] = b.images.shape;
  const provenance: Provenance = {
    model: {
      name: b.card.name,
      architecture: b.card.architecture.name,
      width: b.card.architecture.width,
      parameters: b.card.architecture.parameters,
      dataset: b.card.dataset.name,
      task: b.card.dataset.task,
      classes,
      testAccuracy: b.card.metrics.test?.accuracy,
      testAuc: b.card.metrics.test?.auc,
      createdAt: b.card.createdAt,
      trainingSeed: b.card.training?.seed,
      path: b.modelPath,
    },
    dataset: { ...b.dataset, n: b.images.n, resolution: `${h}×${w}${c === 3 ? ' RGB' : ' grey'}` },
    seed: b.seed,
    medshieldVersion: VERSION,
    gitCommit: gitCommit(),
    engine: b.engine,
    command: b.command,
    createdAt: new Date().toISOString(),
  };
  const perClass = b.evaluations.map((ev) => {
    if (b.card.dataset.task === 'multilabel') return [];
    return classes.map((className, k) => {
      const rs = ev.records.filter((r) => r.attacked && r.label === k);
      return { className, correct: rs.length, flipped: rs.filter((r) => r.success).length };
    });
  });
  const per = b.examplesPerRun ?? 4;
  // examples from the largest-ε run of each attack (and the smallest, when a sweep has several)
  const picks = b.evaluations.length > 1 ? [0, b.evaluations.length - 1] : [0];
  const examples = picks
    .filter((i) => b.evaluations[i])
    .flatMap((i) => {
      const ev = b.evaluations[i];
      return makeExamples(ev.records, b.images.x, ev.xAdv, b.images.shape, classes, per).map((e) => ({
        attack: ev.summary.attack,
        epsText: ev.summary.epsText,
        index: e.index,
        label: e.label,
        cleanPrediction: e.cleanPrediction,
        adversarialPrediction: e.adversarialPrediction,
        cleanConfidence: e.cleanConfidence,
        adversarialConfidence: e.adversarialConfidence,
        linf: e.linf,
        original: e.original.toString('base64'),
        adversarial: e.adversarial.toString('base64'),
        difference: e.difference.toString('base64'),
      }));
    });
  return {
    schema: REPORT_SCHEMA,
    title: b.title ?? `Adversarial robustness of ${b.card.name} on ${b.dataset.name}`,
    provenance,
    runs: b.evaluations.map((e) => e.summary),
    perClass,
    examples,
    threat: THREAT_TAGS,
    notes: b.notes ?? [],
  };
}
