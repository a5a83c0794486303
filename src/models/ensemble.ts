/**
 * An ensemble of differentiable models as one model: logits averaged over members (Liu, Chen, Liu &
 * Song, "Delving into transferable adversarial examples and black-box attacks", ICLR 2017 — the
 * logit ensemble transfers best). Used as the surrogate of transfer attacks. Members must agree on
 * input shape, classes and task; features come from the first member.
 */
import { tf } from '../engine/index.js';
import { mismatch } from '../errors.js';
import type { ModelCard } from './card.js';
import type { DifferentiableModel } from './model.js';

export class EnsembleModel implements DifferentiableModel {
  readonly differentiable = true as const;
  readonly inputShape: [number, number, number];
  readonly classes: string[];
  readonly task;
  readonly card: ModelCard;
  readonly featureNames: string[];

  constructor(readonly members: DifferentiableModel[]) {
    const [first] = members;
    for (const m of members.slice(1)) {
      if (m.inputShape.join('×') !== first.inputShape.join('×'))
        throw mismatch(
          `ensemble members disagree on input shape: ${first.card.name} takes ` +
            `${first.inputShape.join('×')}, ${m.card.name} takes ${m.inputShape.join('×')}`,
        );
      if (m.classes.length !== first.classes.length || m.task !== first.task)
        throw mismatch(
          `ensemble members disagree on the task: ${first.card.name} has ${first.classes.length}` +
            ` classes (${first.task}), ${m.card.name} has ${m.classes.length} (${m.task})`,
        );
    }
    this.inputShape = first.inputShape;
    this.classes = first.classes;
    this.task = first.task;
    this.featureNames = first.featureNames;
    this.card = {
      ...first.card,
      name: members.length === 1 ? first.card.name : `ensemble(${members.map((m) => m.card.name).join(', ')})`,
    };
  }

  logits(x: tf.Tensor4D): tf.Tensor2D {
    if (this.members.length === 1) return this.members[0].logits(x);
    return tf.tidy(() => tf.div(tf.addN(this.members.map((m) => m.logits(x))), this.members.length) as tf.Tensor2D);
  }

  probs(x: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => (this.task === 'multilabel' ? tf.sigmoid(this.logits(x)) : tf.softmax(this.logits(x))));
  }

  features(x: tf.Tensor4D, layer?: string): tf.Tensor {
    return this.members[0].features(x, layer);
  }

  async predictProbs(x: Float32Array, n: number): Promise<Float32Array> {
    const t = tf.tensor4d(x, [n, ...this.inputShape]);
    const p = this.probs(t);
    const out = (await p.data()) as Float32Array;
    t.dispose();
    p.dispose();
    return out;
  }
}
