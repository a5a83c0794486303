import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { zipSync } from 'fflate';
import { loadDataset, labelCounts, parseDatasetName, resolveDatasetFile } from '../src/data/dataset.js';
import { readNpz, readNpy } from '../src/data/npz.js';
import { MedshieldError } from '../src/errors.js';
import { EMBEDDED_NPZ, RETINA_NPZ, npyBytes } from './helpers.js';

test('embedded PneumoniaMNIST has the official split sizes and label counts', async () => {
  const d = await loadDataset('pneumoniamnist', { download: false });
  assert.equal(d.path, EMBEDDED_NPZ);
  assert.equal(d.info.task, 'binary');
  assert.deepEqual(d.info.classes, ['normal', 'pneumonia']);
  assert.equal(d.known, true);
  const { train, val, test: te } = d.splits;
  assert.deepEqual([train.n, val.n, te.n], [4708, 524, 624]);
  assert.deepEqual([train.height, train.width, train.channels], [28, 28, 1]);
  assert.deepEqual(labelCounts(train, 2), [1214, 3494]);
  assert.deepEqual(labelCounts(val, 2), [135, 389]);
  assert.deepEqual(labelCounts(te, 2), [234, 390]);
  assert.equal(d.sha256, '195ae0cb320628df3fdb078505e8cc85f96a28746410508777ff57565cdb6338');
  assert.ok(train.images instanceof Uint8Array && train.images.length === 4708 * 784);
});

test('RetinaMNIST by path: RGB, ordinal, official counts', async () => {
  const d = await loadDataset(RETINA_NPZ);
  assert.equal(d.name, 'retinamnist');
  assert.equal(d.info.task, 'ordinal');
  assert.equal(d.splits.train.channels, 3);
  assert.deepEqual(labelCounts(d.splits.train, 5), [486, 128, 206, 194, 66]);
  assert.deepEqual(labelCounts(d.splits.val, 5), [54, 12, 28, 20, 6]);
  assert.deepEqual(labelCounts(d.splits.test, 5), [174, 46, 92, 68, 20]);
});

test('an unknown set given by path is loaded with an inferred task', async () => {
  // Re-pack real RetinaMNIST images under a name medshield does not know.
  const arrays = readFileSync(RETINA_NPZ);
  const dir = mkdtempSync(path.join(tmpdir(), 'ms-npz-'));
  const p = path.join(dir, 'myfundus.npz');
  writeFileSync(p, arrays);
  const d = await loadDataset(p);
  assert.equal(d.known, false);
  assert.equal(d.info.task, 'multiclass');
  assert.equal(d.info.classes.length, 5);
});

test('dataset names with size suffixes parse; bad ones are refused', () => {
  assert.deepEqual(parseDatasetName('dermamnist_64'), { name: 'dermamnist', size: 64 });
  assert.deepEqual(parseDatasetName('PneumoniaMNIST'), { name: 'pneumoniamnist', size: 28 });
  assert.equal(parseDatasetName('notaset'), null);
  assert.throws(() => parseDatasetName('dermamnist_32'), MedshieldError);
});

test('a missing MedMNIST file is not downloaded when offline', async () => {
  await assert.rejects(
    resolveDatasetFile('dermamnist_224', { download: false, dataDir: mkdtempSync(path.join(tmpdir(), 'ms-cache-')) }),
    /not available locally/,
  );
});

test('corrupt and truncated archives give one-line errors', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ms-bad-'));
  const bytes = readFileSync(EMBEDDED_NPZ);
  const trunc = path.join(dir, 'trunc.npz');
  writeFileSync(trunc, bytes.subarray(0, bytes.length >> 1));
  await assert.rejects(
    loadDataset(trunc),
    (e: unknown) => e instanceof MedshieldError && /corrupt|truncated/.test(e.message) && !e.message.includes('\n'),
  );
  const notzip = path.join(dir, 'x.npz');
  writeFileSync(notzip, 'hello');
  await assert.rejects(loadDataset(notzip), /not an \.npz file/);
  // A valid zip whose arrays are not in MedMNIST's layout.
  const other = path.join(dir, 'other.npz');
  const npz = readNpz(new Uint8Array(bytes));
  assert.ok(npz.train_images);
  writeFileSync(other, zipSync({ 'foo.npy': npyBytes('|u1', [2, 2], new Uint8Array([1, 2, 3, 4])) }));
  await assert.rejects(loadDataset(other), /not in MedMNIST's layout/);
});

test('npy reader handles dtypes and endianness', () => {
  const le = new Uint8Array(new Float32Array([1.5, -2]).buffer);
  assert.deepEqual(Array.from(readNpy(npyBytes('<f4', [2], le)).data), [1.5, -2]);
  const be = new Uint8Array([0, 1, 0, 2]);
  assert.deepEqual(Array.from(readNpy(npyBytes('>u2', [2], be)).data), [1, 2]);
  const i8 = new Uint8Array(new BigInt64Array([3n, -4n]).buffer);
  assert.deepEqual(Array.from(readNpy(npyBytes('<i8', [2, 1], i8)).data), [3, -4]);
  assert.throws(() => readNpy(npyBytes('<c8', [1], new Uint8Array(8))), /unsupported dtype/);
  assert.throws(() => readNpy(npyBytes('|u1', [10], new Uint8Array(3))), /truncated/);
});

/** Encode a .npy (v1) array. */
test('a MedMNIST set is downloaded by name from a (local) mirror, md5-checked, then found in the cache', async () => {
  const http = await import('node:http');
  const body = readFileSync(RETINA_NPZ); // the official RetinaMNIST file (its md5 equals the record's)
  let hits = 0;
  const server = http.createServer((req, res) => {
    hits++;
    if (req.url === '/retinamnist.npz') {
      res.writeHead(200, { 'content-length': body.length });
      res.end(body);
    } else if (req.url === '/breastmnist.npz') {
      res.writeHead(200);
      res.end(body.subarray(0, 1000));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const cache = mkdtempSync(path.join(tmpdir(), 'ms-dl-'));
  process.env.MEDSHIELD_MEDMNIST_MIRROR = `http://127.0.0.1:${port}/`;
  try {
    // Avoid the embedded/shared copies: ask for a set that is only on the mirror.
    const { resolveDatasetFile } = await import('../src/data/dataset.js');
    const got = await resolveDatasetFile('retinamnist_64', { dataDir: cache, download: true }).catch((e: Error) => e);
    assert.ok(got instanceof Error && /404|not found/i.test(got.message), String(got));
    await assert.rejects(
      resolveDatasetFile('breastmnist', { dataDir: cache, download: true }),
      /md5|checksum|truncat|length/i,
    );
    assert.deepEqual(readdirSync(cache), []);
    // dermamnist is not in the embedded or shared folders, so this exercises the download path end to end;
    // the mirror serves the RetinaMNIST bytes under that name, so the official md5 check must refuse them.
    server.removeAllListeners('request');
    server.on('request', (_req, res) => {
      hits++;
      res.writeHead(200, { 'content-length': body.length });
      res.end(body);
    });
    await assert.rejects(resolveDatasetFile('dermamnist', { dataDir: cache, download: true }), /md5|checksum/i);
    assert.deepEqual(readdirSync(cache), []);
    // The real file under its own name: downloaded into the cache, md5 verified, loadable, then served from the cache.
    const before = hits;
    const got2 = await resolveDatasetFile('retinamnist', { dataDir: cache, download: true, cacheOnly: true });
    assert.equal(got2.path, path.join(cache, 'retinamnist.npz'));
    assert.equal(hits, before + 1);
    assert.deepEqual(readFileSync(got2.path), body);
    await resolveDatasetFile('retinamnist', { dataDir: cache, download: true, cacheOnly: true });
    assert.equal(hits, before + 1);
    const d = await loadDataset(got2.path);
    assert.equal(d.splits.test.n, 400);
  } finally {
    delete process.env.MEDSHIELD_MEDMNIST_MIRROR;
    server.close();
  }
});
