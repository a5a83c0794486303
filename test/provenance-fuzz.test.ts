/**
 * Short tamper and fuzz runs (the long ones are bench/signatures/tamper.ts and fuzz.ts): every mutant
 * inside the signed range is rejected, changes outside it are reported, and no fuzz input crashes or
 * hangs verification — each ends valid, invalid or with a named one-line error.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { makePki, runTamper, runFuzz, type Pki } from '../bench/signatures/runs.js';
import { TAMPER_KINDS } from '../bench/signatures/mutants.js';

let pki: Pki;
before(async () => {
  pki = await makePki();
});

test('tamper run: 1 400 mutants of signed real files, every class, 100 % rejected inside the signed range', async () => {
  const c = await runTamper(1400, 7, pki);
  assert.equal(c.total, 1400);
  assert.equal(c.crashes, 0, c.examples.join('\n'));
  assert.equal(c.falseAccepts, 0, c.examples.join('\n'));
  assert.equal(c.rejected, c.inside);
  assert.equal(c.outsideReported, c.outside, 'changes outside the signed range are reported');
  for (const k of TAMPER_KINDS) assert.ok((c.byKind[k]?.n ?? 0) > 0, `class ${k} exercised`);
});

test('fuzz run: 3 000 malformed inputs, no crash, no hang', async () => {
  const c = await runFuzz(3000, 11, pki);
  assert.equal(c.total, 3000);
  assert.equal(c.crashes, 0, c.examples.join('\n'));
  assert.equal(c.hangs, 0);
  assert.equal(c.valid + c.invalid + c.namedErrors, c.total);
  assert.ok(c.namedErrors > 0 && c.invalid > 0);
});
