/**
 * Group commit of the audit log (src/gateway/audit/log.ts), on the real SQLite store: records appended while a
 * durable commit is in flight are written together by ONE following commit; every append resolves only after
 * the commit holding its record has returned (so a response waiting on it never precedes its durable record);
 * the chain stays in append order across commits (consecutive seqs, each prevHash the previous hash) and
 * verifies; a failed commit fails every waiter and every later append (fail closed, no fork).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AuditLog, verifyChain, type AuditStore } from '../src/gateway/index.js';
import { SqliteAuditStore } from '../src/gateway/audit/sqlite.js';
import { OUTCOME, type AuditRecord } from '../src/gateway/audit/record.js';

/** The real store, with each commit taking ≥ `ms` (a slow fsync) and a log of the committed batches. */
function slowStore(
  inner: AuditStore,
  ms: number,
  failAt = Infinity,
): AuditStore & { batches: number[][]; durable: Set<number> } {
  const batches: number[][] = [];
  const durable = new Set<number>();
  return {
    kind: inner.kind,
    batches,
    durable,
    head: () => inner.head(),
    page: (a, l) => inner.page(a, l),
    since: (t, l) => inner.since(t, l),
    blocks: (t) => inner.blocks(t),
    close: () => inner.close(),
    async append(records: AuditRecord[]) {
      await sleep(ms);
      if (batches.length + 1 >= failAt) throw new Error('disk full');
      await inner.append(records);
      batches.push(records.map((r) => r.seq));
      for (const r of records) durable.add(r.seq);
    },
  };
}

const dbFile = (): string => path.join(mkdtempSync(path.join(os.tmpdir(), 'ms-audit-group-')), 'audit.db');

test('records arriving during a commit share the next commit; each append resolves only once its record is durable; chain order kept', async () => {
  const inner = SqliteAuditStore.open(dbFile());
  const store = slowStore(inner, 30);
  const log = await AuditLog.open(store, { signEvery: 1000, signIntervalSeconds: 3600, signer: null });
  const early: boolean[] = [];
  const append = (i: number) =>
    log.append({ event: 'DICOMInstancesAccessed', outcome: OUTCOME.success, requestId: `r${i}` }).then((rec) => {
      early.push(!store.durable.has(rec.seq));
      return rec;
    });
  // A first request, then 60 more arriving in waves while commits are in flight.
  const all = [append(0)];
  for (let wave = 0; wave < 6; wave++) {
    await sleep(10);
    for (let j = 0; j < 10; j++) all.push(append(1 + wave * 10 + j));
  }
  const recs = await Promise.all(all);
  assert.equal(early.filter(Boolean).length, 0, 'no append resolved before its commit');
  assert.deepEqual(
    recs.map((r) => r.seq),
    Array.from({ length: 61 }, (_, i) => i + 1),
    'seq in append order',
  );
  for (let i = 1; i < recs.length; i++) assert.equal(recs[i].prevHash, recs[i - 1].hash);
  assert.deepEqual(
    store.batches.flat(),
    recs.map((r) => r.seq),
    'commits write the chain in order',
  );
  assert.ok(
    store.batches.length < 61 / 3,
    `61 records in ${store.batches.length} commits: ${store.batches.map((b) => b.length).join(',')}`,
  );
  assert.ok(
    store.batches.slice(1).every((b) => b.length > 1),
    `batches after the first group the waiting records: ${store.batches.map((b) => b.length).join(',')}`,
  );
  assert.equal(log.batches, store.batches.length);
  const rep = await verifyChain(inner, null);
  assert.equal(rep.valid, true, JSON.stringify(rep));
  assert.equal(rep.records, 61);
  await log.close();
});

test('a failed commit rejects its waiters and every later append (fail closed)', async () => {
  const inner = SqliteAuditStore.open(dbFile());
  const store = slowStore(inner, 5, 2);
  const log = await AuditLog.open(store, { signEvery: 1000, signIntervalSeconds: 3600, signer: null });
  await log.append({ event: 'ApplicationActivity', outcome: OUTCOME.success });
  const failed = await Promise.allSettled(
    [1, 2, 3].map(() => log.append({ event: 'DICOMInstancesAccessed', outcome: OUTCOME.success })),
  );
  assert.ok(
    failed.every((r) => r.status === 'rejected' && /audit write failed: disk full/.test(String(r.reason.message))),
  );
  await assert.rejects(
    log.append({ event: 'DICOMInstancesAccessed', outcome: OUTCOME.success }),
    /audit log unavailable/,
  );
  assert.equal((await verifyChain(inner, null)).records, 1);
  await inner.close();
});
