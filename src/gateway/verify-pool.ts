/**
 * Signature checks in worker threads. DICOM signature verification (parse, MAC, ECDSA/RSA, X.509 chain) is
 * CPU work of ≈2 ms per image; on the main thread it competes with HTTP handling and inference. With
 * `signature.workers` > 0 the checks run in that many workers (round-robin), each holding its own
 * ImageVerifier built from the same policy; a worker also decodes the image it verified (from the same
 * parse) and hands the pixels back with the verdict.
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { MedshieldError } from '../errors.js';
import type { GatewayConfig, InputType } from './config.js';
import { ImageVerifier, type ImageCheck } from './image-check.js';

interface Job {
  resolve: (c: ImageCheck) => void;
  reject: (e: Error) => void;
}

export class VerifyPool {
  private workers: Worker[] = [];
  private jobs = new Map<number, Job>();
  private next = 1;
  private rr = 0;

  constructor(sig: GatewayConfig['signature'], n: number, inputs?: Partial<GatewayConfig['inputs']>) {
    for (let i = 0; i < n; i++) {
      const w = new Worker(new URL(import.meta.url), {
        workerData: { medshieldVerifyPolicy: sig, medshieldInputs: inputs ?? {} },
      });
      w.on('message', (m: { id: number; check?: ImageCheck; error?: string }) => {
        const j = this.jobs.get(m.id);
        if (!j) return;
        this.jobs.delete(m.id);
        if (m.check) j.resolve(m.check);
        else j.reject(new MedshieldError('INTERNAL', m.error ?? 'verification worker failed'));
      });
      w.on('error', (e) => {
        for (const j of this.jobs.values()) j.reject(e);
        this.jobs.clear();
      });
      w.unref();
      this.workers.push(w);
    }
  }

  check(body: Uint8Array, type: InputType): Promise<ImageCheck> {
    const id = this.next++;
    const w = this.workers[this.rr++ % this.workers.length];
    return new Promise((resolve, reject) => {
      this.jobs.set(id, { resolve, reject });
      w.postMessage({ id, body, type });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

if (!isMainThread && workerData?.medshieldVerifyPolicy) {
  const v = new ImageVerifier(
    workerData.medshieldVerifyPolicy as GatewayConfig['signature'],
    workerData.medshieldInputs as Partial<GatewayConfig['inputs']>,
  );
  parentPort!.on('message', async (m: { id: number; body: Uint8Array; type: InputType }) => {
    try {
      // The worker parses, verifies and decodes once; the decoded pixels move (not copy) to the main thread.
      const check = await v.check(m.body, m.type);
      parentPort!.postMessage({ id: m.id, check }, check.image ? [check.image.data.buffer as ArrayBuffer] : []);
    } catch (e) {
      parentPort!.postMessage({ id: m.id, error: (e as Error).message });
    }
  });
}
