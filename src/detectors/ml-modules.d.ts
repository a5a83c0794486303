// Types for the untyped `ml-logistic-regression` package (gradient-descent logistic regression, one-vs-all).
declare module 'ml-logistic-regression' {
  import type { Matrix } from 'ml-matrix';
  interface TwoClass {
    testScores(x: Matrix): number[];
    weights: Matrix;
  }
  export default class LogisticRegression {
    constructor(options?: { numSteps?: number; learningRate?: number });
    classifiers: TwoClass[];
    train(x: Matrix, y: Matrix): void;
    predict(x: Matrix): number[];
    toJSON(): unknown;
    static load(model: unknown): LogisticRegression;
  }
}
