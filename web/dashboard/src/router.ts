/** Client-side routing: match '/campaigns/:id'-style patterns, navigate with the History API. */
export type Params = Record<string, string>;

export function match(pattern: string, path: string): Params | null {
  const p = pattern.split('/').filter(Boolean),
    s = path.split('/').filter(Boolean);
  if (p.length !== s.length) return null;
  const params: Params = {};
  for (let i = 0; i < p.length; i++) {
    if (p[i].startsWith(':')) params[p[i].slice(1)] = decodeURIComponent(s[i]);
    else if (p[i] !== s[i]) return null;
  }
  return params;
}

const listeners = new Set<() => void>();
export function onNavigate(fn: () => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
export function navigate(url: string): void {
  history.pushState(null, '', url);
  for (const fn of listeners) fn();
}
window.addEventListener('popstate', () => {
  for (const fn of listeners) fn();
});

/** Same-origin link clicks stay in the app (no reload); other links behave normally. */
document.addEventListener('click', (e) => {
  const a = (e.target as Element | null)?.closest?.('a');
  if (
    !a ||
    e.defaultPrevented ||
    e.button !== 0 ||
    e.metaKey ||
    e.ctrlKey ||
    e.shiftKey ||
    a.target ||
    a.hasAttribute('download')
  )
    return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || a.dataset.native !== undefined) return;
  e.preventDefault();
  navigate(url.pathname + url.search);
});
