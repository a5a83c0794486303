import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rocAuc, accuracy, auc } from '../src/models/metrics.js';

test('ROC AUC matches the Mann–Whitney statistic, ties counted half', () => {
  assert.equal(rocAuc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]), 0.75); // sklearn: 0.75
  assert.equal(rocAuc([0, 1], [0.5, 0.5]), 0.5);
  assert.equal(rocAuc([0, 0, 1], [0.2, 0.2, 0.2]), 0.5);
  assert.ok(Number.isNaN(rocAuc([1, 1], [0.1, 0.2])));
});

test('MedMNIST ACC/AUC per task', () => {
  // binary: threshold 0.5 on the positive class
  const probs = new Float32Array([0.9, 0.1, 0.4, 0.6, 0.45, 0.55, 0.8, 0.2]);
  const y = new Int32Array([0, 1, 0, 1]);
  assert.equal(accuracy({ probs, n: 4, k: 2 }, y, 'binary'), 0.5);
  assert.equal(auc({ probs, n: 4, k: 2 }, y, 'binary'), 0.75);
  // multiclass: argmax; AUC mean one-vs-rest
  const p3 = new Float32Array([0.7, 0.2, 0.1, 0.1, 0.8, 0.1, 0.2, 0.3, 0.5]);
  const y3 = new Int32Array([0, 1, 2]);
  assert.equal(accuracy({ probs: p3, n: 3, k: 3 }, y3, 'ordinal'), 1);
  assert.equal(auc({ probs: p3, n: 3, k: 3 }, y3, 'multiclass'), 1);
  // multilabel: mean per-label accuracy
  const pm = new Float32Array([0.9, 0.2, 0.3, 0.7]);
  const ym = new Int32Array([1, 1, 0, 1]);
  assert.equal(accuracy({ probs: pm, n: 2, k: 2 }, ym, 'multilabel'), 0.75);
});
