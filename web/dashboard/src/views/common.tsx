/** Small pieces every view uses: loading/error states and the data hook. */
import { useEffect, useState } from 'preact/hooks';
import { getJson } from '../api';

export function useJson<T>(url: string | null): { data: T | null; error: string | null } {
  const [state, setState] = useState<{ data: T | null; error: string | null }>({ data: null, error: null });
  useEffect(() => {
    if (!url) return;
    let live = true;
    setState({ data: null, error: null });
    getJson<T>(url).then(
      (data) => live && setState({ data, error: null }),
      (e: Error) => live && setState({ data: null, error: e.message }),
    );
    return () => {
      live = false;
    };
  }, [url]);
  return state;
}

export function Status({ error, what }: { error: string | null; what: string }) {
  return error ? (
    <p class="error" role="alert">
      Could not load {what}: {error}
    </p>
  ) : (
    <p class="loading" aria-live="polite">
      Loading {what}…
    </p>
  );
}

export function Badge({ status }: { status: string }) {
  return <span class={`badge badge-${status}`}>{status}</span>;
}

export function Progress({ done, total, label }: { done: number; total: number; label: string }) {
  return (
    <div class="progress-wrap">
      <progress max={Math.max(total, 1)} value={done} aria-label={label} />
      <span class="progress-text" data-testid="progress-text">
        {done} / {total} shards
      </span>
    </div>
  );
}
