/**
 * Talking to the dashboard server: JSON GETs, images as blob URLs and server-sent events, all through
 * fetch so the API key (when the server asks for one) travels as `Authorization: Bearer` and never in a URL.
 */
const KEY = 'medshield-dashboard-key';

export class AuthNeeded extends Error {}

export function apiKey(): string | null {
  return sessionStorage.getItem(KEY);
}
export function setApiKey(k: string | null): void {
  if (k) sessionStorage.setItem(KEY, k);
  else sessionStorage.removeItem(KEY);
}

function headers(): HeadersInit {
  const k = apiKey();
  return k ? { authorization: `Bearer ${k}` } : {};
}

let onAuth: (() => void) | null = null;
/** Called when the server answers 401/403 (the app then asks for a key). */
export function onAuthNeeded(fn: () => void): void {
  onAuth = fn;
}

async function get(url: string): Promise<Response> {
  const r = await fetch(url, { headers: headers(), credentials: 'omit' });
  if (r.status === 401 || r.status === 403) {
    onAuth?.();
    throw new AuthNeeded((await r.json().catch(() => ({}))).message ?? 'API key needed');
  }
  if (!r.ok) throw new Error((await r.json().catch(() => ({}))).message ?? `${url}: HTTP ${r.status}`);
  return r;
}

export async function getJson<T>(url: string): Promise<T> {
  return (await get(url)).json() as Promise<T>;
}

/** An image as a blob URL (revoke it when done) plus the response headers (e.g. x-amplification). */
export async function getImage(url: string): Promise<{ src: string; headers: Headers }> {
  const r = await get(url);
  return { src: URL.createObjectURL(await r.blob()), headers: r.headers };
}

/** Server-sent events over fetch; returns a function that stops listening. */
export function subscribe(
  url: string,
  onEvent: (event: string, data: unknown) => void,
  onError?: (e: Error) => void,
): () => void {
  const ctl = new AbortController();
  (async () => {
    const r = await fetch(url, {
      headers: { ...headers(), accept: 'text/event-stream' },
      signal: ctl.signal,
      credentials: 'omit',
    });
    if (!r.ok || !r.body) throw new Error(`${url}: HTTP ${r.status}`);
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        let event = 'message';
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('event:')) event = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
        }
        if (data.length) onEvent(event, JSON.parse(data.join('\n')));
      }
    }
  })().catch((e: Error) => {
    if (e.name !== 'AbortError') onError?.(e);
  });
  return () => ctl.abort();
}
