/**
 * Shared by the gateway tests and benchmark: a gateway folder from `initGateway`, MedMNIST test images as
 * (optionally signed) DICOM requests, and a tiny HTTP client on node's http module.
 */
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import YAML from 'yaml';
import { writeFileSync } from 'node:fs';
import { loadDataset } from '../../src/data/dataset.js';
import { signDicom, loadSigner } from '../../src/provenance/index.js';
import { initGateway, type InitResult } from '../../src/gateway/index.js';
import { writeDicom } from './dicom-writer.js';
import { PACKAGE_ROOT } from '../../src/version.js';

export const EMBEDDED_NPZ = path.join(PACKAGE_ROOT, 'data', 'pneumoniamnist.npz');

/** Test-split images of the embedded PneumoniaMNIST (28×28 uint8). */
export async function testImages(n: number, offset = 0): Promise<Array<{ pixels: Uint8Array; label: number }>> {
  const ds = await loadDataset(EMBEDDED_NPZ);
  const t = ds.splits.test;
  const d = t.height * t.width * t.channels;
  const out: Array<{ pixels: Uint8Array; label: number }> = [];
  for (let i = offset; i < Math.min(t.n, offset + n); i++) {
    const px =
      t.images instanceof Uint8Array
        ? t.images.slice(i * d, (i + 1) * d)
        : Uint8Array.from(t.images.subarray(i * d, (i + 1) * d), (v) => Math.round(v * 255));
    out.push({ pixels: px, label: t.labels[i * t.labelWidth] });
  }
  return out;
}

export function pngBytes(pixels: Uint8Array, w = 28, h = 28): Buffer {
  const png = new PNG({ width: w, height: h, colorType: 0, inputColorType: 0, bitDepth: 8, inputHasAlpha: false });
  png.data = Buffer.from(pixels);
  return PNG.sync.write(png, { colorType: 0, inputColorType: 0, bitDepth: 8, inputHasAlpha: false });
}

export interface GatewayDir extends InitResult {
  dir: string;
}

/** `gateway init` into a fresh temp folder, then apply `patch` to the YAML config. */
export async function makeGatewayDir(
  model: string,
  patch: (cfg: Record<string, any>) => void = () => undefined,
): Promise<GatewayDir> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'medshield-gw-'));
  const r = await initGateway(dir, { model, port: 0 });
  const cfg = YAML.parse(readFileSync(r.config, 'utf8'));
  patch(cfg);
  writeFileSync(r.config, YAML.stringify(cfg));
  return { ...r, dir };
}

export async function signedDicom(
  g: Pick<InitResult, 'signerKey' | 'signerCert'>,
  pixels: Uint8Array,
  rows = 28,
  cols = 28,
): Promise<Buffer> {
  const signer = loadSigner(readFileSync(g.signerKey), readFileSync(g.signerCert));
  const r = await signDicom(writeDicom({ rows, cols, pixels }), { signer, profile: 'base', mac: 'SHA256' });
  return Buffer.from(r.bytes);
}

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: any;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

export function request(
  url: string,
  o: { method?: string; headers?: Record<string, string>; body?: Uint8Array; keepAlive?: boolean } = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: o.method ?? (o.body ? 'POST' : 'GET'),
        headers: { ...(o.body ? { 'content-length': String(o.body.length) } : {}), ...o.headers },
        agent: o.keepAlive === false ? undefined : agent,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          let json: unknown = null;
          try {
            json = JSON.parse(body);
          } catch {
            /* not JSON */
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (o.body) req.end(o.body);
    else req.end();
  });
}

export function infer(base: string, key: string, body: Uint8Array, type = 'application/dicom'): Promise<HttpResult> {
  return request(`${base}/v1/infer`, { body, headers: { authorization: `Bearer ${key}`, 'content-type': type } });
}

/** An untrained small CNN for PneumoniaMNIST saved to a temp folder (gateway behaviour, not accuracy). */
export async function tinyModelDir(seed = 0): Promise<string> {
  const { newClassifier } = await import('../../src/models/factory.js');
  const { saveModel } = await import('../../src/models/io.js');
  const ds = await loadDataset(EMBEDDED_NPZ);
  const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'medshield-model-')), 'cnn');
  await saveModel(newClassifier('cnn', ds, { width: 4, seed }), dir);
  return dir;
}
