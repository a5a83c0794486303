/**
 * The specs of the library verbs scorecard, replicate, demo and importModel (src/api): each refuses a
 * bad spec before any work with one line naming the field or the rule (the CLI's exit 2), and the
 * JSON Schemas are plain JSON (a campaign stores and replays specs).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  scorecard,
  replicate,
  demo,
  importModel,
  SCORECARD_SPEC_SCHEMA,
  REPLICATE_SPEC_SCHEMA,
  DEMO_SPEC_SCHEMA,
  IMPORT_MODEL_SPEC_SCHEMA,
  DETECT_SPEC_SCHEMA,
} from '../src/api/index.js';
import { MedshieldError } from '../src/errors.js';

const oneLine =
  (re: RegExp) =>
  (e: unknown): boolean =>
    e instanceof MedshieldError && re.test(e.message) && !e.message.includes('\n');

test('the spec schemas are plain JSON', () => {
  for (const s of [
    SCORECARD_SPEC_SCHEMA,
    REPLICATE_SPEC_SCHEMA,
    DEMO_SPEC_SCHEMA,
    IMPORT_MODEL_SPEC_SCHEMA,
    DETECT_SPEC_SCHEMA,
  ]) {
    assert.deepEqual(JSON.parse(JSON.stringify(s)), s);
  }
});

test('scorecard refuses bad specs before loading anything', async () => {
  await assert.rejects(scorecard({ defences: 'nope' }), oneLine(/unknown defence or detector 'nope'/));
  await assert.rejects(scorecard({ defences: ['jpeg:q=500'] }), oneLine(/q must be ≥ 1 and ≤ 100/));
  await assert.rejects(scorecard({ eps: 'abc' }), oneLine(/ε must be a number/));
  await assert.rejects(scorecard({ quick: 'yes' } as never), oneLine(/scorecard spec: quick must be boolean/));
  await assert.rejects(scorecard({ data: { limit: 0 } }), oneLine(/scorecard spec: data\.limit must be >= 1/));
  const dir = mkdtempSync(path.join(tmpdir(), 'ms-api-b-'));
  await assert.rejects(
    scorecard({ model: path.join(dir, 'missing'), defences: 'jpeg', quick: true }),
    oneLine(/does not exist/),
  );
});

test('replicate refuses unknown papers and options of another paper', async () => {
  await assert.rejects(replicate({ paper: 'nope' as never }), oneLine(/unknown paper 'nope'/));
  await assert.rejects(replicate({ paper: 'finlayson', eps: '8/255' }), oneLine(/options of replicate amit/));
  await assert.rejects(
    replicate({ paper: 'finlayson', detectors: true }),
    oneLine(/--detectors is an option of replicate ma/),
  );
  await assert.rejects(replicate({ paper: 'amit', blackbox: true }), oneLine(/belong to replicate finlayson/));
  await assert.rejects(replicate({ paper: 'ma', models: ['vgg' as never] }), oneLine(/unknown model 'vgg'/));
  await assert.rejects(replicate({ paper: 'ma', limit: 0 }), oneLine(/replicate spec: limit must be >= 1/));
  await assert.rejects(replicate({ paper: 'ma', extra: 1 } as never), oneLine(/replicate spec: unknown field 'extra'/));
});

test('demo and importModel name the bad field', async () => {
  await assert.rejects(demo({ attackImages: 0 }), oneLine(/demo spec: attackImages must be >= 1/));
  await assert.rejects(demo({ full: 1 } as never), oneLine(/demo spec: full must be boolean/));
  const out = path.join(mkdtempSync(path.join(tmpdir(), 'ms-api-b-')), 'm');
  await assert.rejects(importModel({ file: 'x.onnx' } as never), oneLine(/model import spec: missing field 'out'/));
  await assert.rejects(
    importModel({ file: 'x.onnx', out, layout: 'chw' as never }),
    oneLine(/model import spec: layout must be one of nchw, nhwc/),
  );
  await assert.rejects(
    importModel({ file: 'x.onnx', out, input: [28, 28] as never }),
    oneLine(/model import spec: input must NOT have fewer than 3 items/),
  );
  assert.ok(!existsSync(out));
});
