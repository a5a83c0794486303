/**
 * The in-browser attack demo (dashboard view 7, issue 23). Runs entirely in the page:
 *  - loads the shipped default model (tfjs-layers model.json + weight shards served by the dashboard),
 *    checks the weights' sha256 against the model card (WebCrypto), and runs it with TensorFlow.js on
 *    WebGL where available, else wasm (served locally), else cpu — `?backend=` forces one;
 *  - computes logits with the library's own inference path (src/models/inference.ts: batch norm folded
 *    into the convolutions) and attacks with the library's own PGD (src/attacks/algorithms/pgd.ts: L∞, 20 steps,
 *    α = ε/4, seeded random start, early stop — the CLI's defaults), bundled for the browser;
 *  - asks the server only to verify the film's signature over the original file and over the tampered
 *    pixels (the server signs nothing a client sends).
 * PGD: A. Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks", ICLR 2018.
 */
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { conv2DBackpropFilter } from '../../../src/engine/wasm/conv2d_backprop_filter.js';
import { conv2DBackpropInput } from '../../../src/engine/wasm/conv2d_backprop_input.js';
import { InferenceGraph } from '../../../src/models/inference.js';
import { pgd } from '../../../src/attacks/algorithms/pgd.js';
import type { DifferentiableModel } from '../../../src/models/model.js';
import type { ModelCard } from '../../../src/models/card.js';

interface Film {
  index: number;
  label: number;
  className: string;
}
interface FilmsAnswer {
  classes: string[];
  height: number;
  width: number;
  dataset: { name: string; split: string; sha256: string };
  scanner: string;
  films: Film[];
}
interface Verification {
  file: string;
  valid: boolean;
  reason: string;
  signer: string;
  sha256: string;
  signedSha256: string;
}

/** What the page exposes for tests and curious users (read-only snapshot of the last results). */
interface DemoState {
  ready: boolean;
  error: string | null;
  backend: string;
  weightsSha256: string;
  weightsChecked: boolean | null;
  film: number | null;
  label: number | null;
  cleanLogits: number[] | null;
  cleanPixels: number[] | null;
  attack: null | {
    film: number;
    eps: number;
    seed: number;
    steps: number;
    stepSize: number;
    success: boolean;
    linf: number;
    advLogits: number[];
    xAdv: number[];
    quantizedLogits: number[];
    seconds: number;
  };
  original: Verification | null;
  tampered: Verification | null;
  busy: boolean;
}

const state: DemoState = {
  ready: false,
  error: null,
  backend: '',
  weightsSha256: '',
  weightsChecked: null,
  film: null,
  label: null,
  cleanLogits: null,
  cleanPixels: null,
  attack: null,
  original: null,
  tampered: null,
  busy: false,
};
(window as unknown as { medshieldDemo: DemoState }).medshieldDemo = state;

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const STEPS = pgd.defaultSteps;

function authHeaders(): Record<string, string> {
  const k = sessionStorage.getItem('medshield-dashboard-key');
  return k ? { authorization: `Bearer ${k}` } : {};
}
async function getJson<T>(url: string): Promise<T> {
  const r = await fetch(url, { headers: authHeaders() });
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status} ${(await r.text()).slice(0, 200)}`);
  return (await r.json()) as T;
}
async function getBytes(url: string): Promise<ArrayBuffer> {
  const r = await fetch(url, { headers: authHeaders() });
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.arrayBuffer();
}
const hex = (b: ArrayBuffer): string => Array.from(new Uint8Array(b), (v) => v.toString(16).padStart(2, '0')).join('');

function status(msg: string): void {
  $('demo-status').textContent = msg;
}
function fail(e: unknown): void {
  const msg = e instanceof Error ? e.message : String(e);
  state.error = msg;
  state.busy = false;
  $('demo-error').textContent = msg;
  $('demo-error').hidden = false;
  ($('attack') as HTMLButtonElement).disabled = !state.ready;
}

/** WebGL where it works, else wasm (binaries served by the dashboard, no CDN), else cpu. */
async function pickBackend(): Promise<string> {
  const want = new URLSearchParams(location.search).get('backend');
  const order = want && ['webgl', 'wasm', 'cpu'].includes(want) ? [want] : ['webgl', 'wasm', 'cpu'];
  setWasmPaths('/assets/demo/wasm/');
  // tfjs-backend-wasm 4.22 has no Conv2DBackpropFilter (the fused conv's gradient asks for it) and a slow
  // Conv2DBackpropInput: register the engine's own kernels (src/engine/wasm), as the Node engine does.
  for (const [kernelName, kernelFunc] of [
    ['Conv2DBackpropFilter', conv2DBackpropFilter],
    ['Conv2DBackpropInput', conv2DBackpropInput],
  ] as const) {
    if (tf.getKernel(kernelName, 'wasm')) tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: kernelFunc as unknown as tf.KernelFunc });
  }
  for (const b of order) {
    try {
      if (!(await tf.setBackend(b))) continue;
      await tf.ready();
      // A gradient through a fused conv is what PGD needs: check the backend has the kernels.
      const g = tf.tidy(() =>
        tf.grad((x: tf.Tensor) =>
          tf.sum(
            tf.fused.conv2d({
              x: x as tf.Tensor4D,
              filter: tf.ones([3, 3, 1, 2]),
              bias: tf.ones([2]),
              strides: 1,
              pad: 'same',
              activation: 'relu',
            }),
          ),
        )(tf.ones([1, 4, 4, 1])),
      );
      await g.data();
      g.dispose();
      return b;
    } catch {
      /* next backend */
    }
  }
  throw new Error('no TensorFlow.js backend works in this browser');
}

interface LoadedModel {
  model: DifferentiableModel;
  sha256: string;
  checked: boolean | null;
}

/** The default model: model.json + shards from the dashboard, weights checked against the card's sha256. */
async function loadModel(): Promise<LoadedModel> {
  const mj = await getJson<{
    modelTopology: object;
    weightsManifest: Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }>;
  }>('/demo/model/model.json');
  const card = await getJson<ModelCard>('/demo/model/model-card.json');
  const names = mj.weightsManifest.flatMap((g) => g.paths);
  let done = 0;
  const parts = await Promise.all(
    names.map(async (n) => {
      const b = await getBytes(`/demo/model/${encodeURIComponent(n)}`);
      status(`loading the model: ${++done}/${names.length} weight files`);
      return b;
    }),
  );
  const total = parts.reduce((s, p) => s + p.byteLength, 0);
  const all = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    all.set(new Uint8Array(p), off);
    off += p.byteLength;
  }
  let sha = '';
  let checked: boolean | null = null;
  if (globalThis.crypto?.subtle) {
    sha = hex(await crypto.subtle.digest('SHA-256', all));
    checked = sha === card.weights?.sha256;
    if (!checked)
      throw new Error(
        `the weights' sha256 ${sha.slice(0, 12)}… does not match the model card's ` +
          `${String(card.weights?.sha256).slice(0, 12)}…: refusing to run them`,
      );
  }
  const net = await tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: mj.modelTopology,
      weightSpecs: mj.weightsManifest.flatMap((g) => g.weights),
      weightData: all.buffer,
    }),
  );
  const graph = new InferenceGraph(net);
  const model: DifferentiableModel = {
    differentiable: true,
    inputShape: card.input.shape as [number, number, number],
    classes: card.dataset.classes,
    task: card.dataset.task,
    card,
    featureNames: [],
    logits: (x) => graph.run(x) as tf.Tensor2D,
    probs: (x) => tf.tidy(() => tf.softmax(graph.run(x) as tf.Tensor2D)),
    features: (x) => graph.run(x),
    predictProbs: async (x, n) => {
      const t = tf.tensor4d(x, [n, ...(card.input.shape as [number, number, number])]);
      const p = tf.tidy(() => tf.softmax(graph.run(t) as tf.Tensor2D));
      const out = (await p.data()) as Float32Array;
      t.dispose();
      p.dispose();
      return out;
    },
  };
  return { model, sha256: sha, checked };
}

async function logitsOf(model: DifferentiableModel, x: Float32Array): Promise<number[]> {
  const t = tf.tensor4d(x, [1, ...model.inputShape]);
  const z = model.logits(t);
  const v = Array.from(await z.data());
  t.dispose();
  z.dispose();
  return v;
}

const softmax = (z: number[]): number[] => {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};
const argmax = (z: number[]): number => z.indexOf(Math.max(...z));

/** Draw H×W grey values in [0,1] into a canvas (nearest-neighbour upscaling is done by CSS). */
function draw(canvas: HTMLCanvasElement, x: ArrayLike<number>, w: number, h: number): void {
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext('2d')!;
  const img = ctx.createImageData(w, h);
  for (let i = 0; i < w * h; i++) {
    const v = Math.round(Math.min(1, Math.max(0, x[i])) * 255);
    img.data[i * 4] = v;
    img.data[i * 4 + 1] = v;
    img.data[i * 4 + 2] = v;
    img.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

/** Decode a PNG to grey values in [0,1] (the red channel of the decoded RGBA; the films are grey). */
async function decodePng(bytes: ArrayBuffer, w: number, h: number): Promise<Float32Array> {
  const bmp = await createImageBitmap(new Blob([bytes], { type: 'image/png' }), {
    colorSpaceConversion: 'none',
    premultiplyAlpha: 'none',
  });
  const c = document.createElement('canvas');
  c.width = w;
  c.height = h;
  const ctx = c.getContext('2d', { willReadFrequently: true })!;
  ctx.drawImage(bmp, 0, 0);
  const d = ctx.getImageData(0, 0, w, h).data;
  return Float32Array.from({ length: w * h }, (_, i) => d[i * 4] / 255);
}

function diagnosis(el: HTMLElement, z: number[], classes: string[], truth: number): void {
  const p = softmax(z);
  const k = argmax(z);
  el.textContent = `${classes[k]} (${(p[k] * 100).toFixed(1)} %)${k === truth ? ' — correct' : ' — WRONG'}`;
  el.className = k === truth ? 'diag ok' : 'diag bad';
}

function showVerification(el: HTMLElement, v: Verification): void {
  el.textContent =
    `${v.valid ? '✓ signature valid' : `✗ verification FAILED: ${v.reason}`}` +
    `; signer ${v.signer || 'unknown'}; file sha256 ${v.sha256.slice(0, 16)}…`;
  el.className = v.valid ? 'verify ok' : 'verify bad';
}

const b64url = (b: Uint8Array): string =>
  btoa(String.fromCharCode(...b))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');

async function main(): Promise<void> {
  const films = await getJson<FilmsAnswer>('/api/demo/films');
  const { width: W, height: H, classes } = films;
  const select = $('film') as HTMLSelectElement;
  for (const f of films.films) {
    const o = document.createElement('option');
    o.value = String(f.index);
    o.textContent = `test film ${f.index} — ${f.className}`;
    select.append(o);
  }
  $('scanner').textContent = films.scanner;
  $('dataset').textContent =
    `${films.dataset.name} (${films.dataset.split} split, ` +
    `${films.films.length} films, sha256 ${films.dataset.sha256.slice(0, 12)}…)`;
  status('choosing a TensorFlow.js backend…');
  state.backend = await pickBackend();
  $('backend').textContent = state.backend;
  status('loading the model…');
  const { model, sha256, checked } = await loadModel();
  state.weightsSha256 = sha256;
  state.weightsChecked = checked;
  $('weights').textContent = checked
    ? `sha256 ${sha256.slice(0, 16)}… matches the model card`
    : 'not checked (WebCrypto needs a secure context: use http://127.0.0.1)';
  $('model-name').textContent =
    `${model.card.name} (${model.card.architecture.name}, ` +
    `${model.card.architecture.parameters?.toLocaleString('en') ?? '?'} parameters)`;

  const eps = $('eps') as HTMLInputElement;
  const showEps = (): void => {
    $('eps-value').textContent = `${eps.value}/255`;
  };
  eps.addEventListener('input', showEps);
  showEps();
  $('steps').textContent =
    `${STEPS} steps, step size α = ε/4, random start (seed below), early stop — the CLI's defaults`;

  const loadFilm = async (i: number): Promise<void> => {
    state.busy = true;
    state.attack = null;
    state.tampered = null;
    for (const id of ['adv-diagnosis', 'quant-diagnosis', 'tampered-verify', 'attack-summary', 'diff-scale'])
      $(id).textContent = '';
    for (const id of ['adv', 'diff']) {
      const c = $(id) as HTMLCanvasElement;
      c.getContext('2d')!.clearRect(0, 0, c.width, c.height);
    }
    const bytes = await getBytes(`/api/demo/films/${i}.png`);
    const x = await decodePng(bytes, W, H);
    draw($('clean') as HTMLCanvasElement, x, W, H);
    const f = films.films[i];
    state.film = i;
    state.label = f.label;
    state.cleanPixels = Array.from(x);
    state.cleanLogits = await logitsOf(model, x);
    $('truth').textContent = f.className;
    diagnosis($('clean-diagnosis'), state.cleanLogits, classes, f.label);
    state.original = await getJson<Verification>(`/api/demo/films/${i}/verify`);
    showVerification($('original-verify'), state.original);
    state.busy = false;
    status(`film ${i} loaded; press Attack`);
  };

  const attack = async (): Promise<void> => {
    if (state.film === null || !state.cleanPixels || state.label === null) return;
    const btn = $('attack') as HTMLButtonElement;
    btn.disabled = true;
    state.busy = true;
    state.attack = null;
    state.tampered = null;
    const i = state.film;
    const e = Number(eps.value) / 255;
    const seed = Number(($('seed') as HTMLInputElement).value) >>> 0;
    const x = Float32Array.from(state.cleanPixels);
    const t0 = performance.now();
    const r = await pgd.run(model, x, Int32Array.of(state.label), {
      eps: e,
      seed,
      onStep: (done, total) => status(`PGD step ${done}/${total} on ${state.backend}…`),
    });
    const seconds = (performance.now() - t0) / 1000;
    const xa = r.xAdv;
    let linf = 0;
    for (let j = 0; j < x.length; j++) linf = Math.max(linf, Math.abs(xa[j] - x[j]));
    const advLogits = await logitsOf(model, xa);
    // The file an attacker sends holds 8-bit pixels: quantise, diagnose that too.
    const q = Uint8Array.from(xa, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255));
    const quantizedLogits = await logitsOf(
      model,
      Float32Array.from(q, (v) => v / 255),
    );
    draw($('adv') as HTMLCanvasElement, xa, W, H);
    const amp = e > 0 ? 0.5 / e : 1;
    draw(
      $('diff') as HTMLCanvasElement,
      Array.from(xa, (v, j) => 0.5 + (v - x[j]) * amp),
      W,
      H,
    );
    $('diff-scale').textContent = `difference × ${amp.toFixed(1)} around mid-grey (black = −ε, white = +ε)`;
    diagnosis($('adv-diagnosis'), advLogits, classes, state.label);
    diagnosis($('quant-diagnosis'), quantizedLogits, classes, state.label);
    const flipped = argmax(advLogits) !== argmax(state.cleanLogits!);
    $('attack-summary').textContent =
      `${flipped ? 'The diagnosis flipped' : 'The diagnosis held'}: L∞ = ` +
      `${(linf * 255).toFixed(2)}/255 ≤ ε = ${eps.value}/255, ${STEPS} steps at most, ` +
      `${r.queries.gradient} gradient passes, ${seconds.toFixed(1)} s on ${state.backend}.`;
    state.attack = {
      film: i,
      eps: e,
      seed,
      steps: STEPS,
      stepSize: e / 4,
      success: !!r.success[0],
      linf,
      advLogits,
      xAdv: Array.from(xa),
      quantizedLogits,
      seconds,
    };
    status('verifying the tampered film under the original signature…');
    state.tampered = await getJson<Verification>(`/api/demo/films/${i}/verify?pixels=${b64url(q)}`);
    showVerification($('tampered-verify'), state.tampered);
    state.busy = false;
    btn.disabled = false;
    status(`attack done on film ${i}`);
  };

  select.addEventListener('change', () => {
    loadFilm(Number(select.value)).catch(fail);
  });
  $('attack').addEventListener('click', () => {
    attack().catch(fail);
  });
  const first = Number(new URLSearchParams(location.search).get('film') ?? 0);
  select.value = String(Number.isInteger(first) && first >= 0 && first < films.films.length ? first : 0);
  await loadFilm(Number(select.value));
  state.ready = true;
  ($('attack') as HTMLButtonElement).disabled = false;
}

main().catch(fail);
