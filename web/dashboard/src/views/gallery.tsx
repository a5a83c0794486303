/**
 * View 4: per-sample clean / adversarial / amplified-difference images with label and prediction before and
 * after; filtered by flipped, class, ε, attack and model; paginated on the server.
 */
import type { Params } from '../router';
import { useEffect, useState } from 'preact/hooks';
import { getImage } from '../api';
import { epsText, num, pct } from '../format';
import { navigate } from '../router';
import type { SamplePage, SampleView } from '../types';
import { Status, useJson } from './common';

const PAGE = 24;

/** An image fetched with the API key, shown from a blob URL. */
function ApiImg({ url, alt }: { url: string; alt: string }) {
  const [src, setSrc] = useState<string | null>(null);
  const [err, setErr] = useState(false);
  useEffect(() => {
    let live = true;
    let made: string | null = null;
    getImage(url).then(
      (r) => {
        made = r.src;
        if (live) setSrc(r.src);
        else URL.revokeObjectURL(r.src);
      },
      () => live && setErr(true),
    );
    return () => {
      live = false;
      if (made) URL.revokeObjectURL(made);
    };
  }, [url]);
  if (err) return <span class="img-missing">no image</span>;
  return src ? <img src={src} alt={alt} width={112} height={112} /> : <span class="img-loading" aria-hidden="true" />;
}

function Sample({ id, s }: { id: string; s: SampleView }) {
  const base = `/api/campaigns/${id}/samples/${encodeURIComponent(s.key)}`;
  return (
    <li class={`sample ${s.flipped ? 'flipped' : ''}`} data-key={s.key}>
      <div class="triptych">
        <figure>
          <ApiImg url={`${base}/clean.png`} alt={`clean image, test index ${s.index}`} />
          <figcaption>clean</figcaption>
        </figure>
        <figure>
          <ApiImg url={`${base}/adversarial.png`} alt={`adversarial image, ${s.attack} at ε ${epsText(s.eps)}`} />
          <figcaption>adversarial</figcaption>
        </figure>
        <figure>
          <ApiImg
            url={`${base}/difference.png`}
            alt={`difference, amplified ${s.amplification ? s.amplification.toFixed(1) : ''} times`}
          />
          <figcaption>difference ×{s.amplification ? s.amplification.toFixed(1) : '–'}</figcaption>
        </figure>
      </div>
      <dl class="facts small">
        <dt>True label</dt>
        <dd>{s.labelName}</dd>
        <dt>Before</dt>
        <dd>
          {s.clean.name} ({pct(s.clean.conf)})
        </dd>
        <dt>After</dt>
        <dd class={s.flipped ? 'bad' : ''}>
          {s.attacked ? (
            <>
              {s.adversarial.name} ({pct(s.adversarial.conf)}){s.flipped ? ' · flipped' : ''}
            </>
          ) : (
            'not attacked (misclassified before the attack)'
          )}
        </dd>
        <dt>Attack</dt>
        <dd>
          {s.attack} · ε {epsText(s.eps)} · {s.model}
        </dd>
        <dt>Size</dt>
        <dd>
          L∞ {num(s.linf == null ? null : s.linf * 255, 1)}/255 · L2 {num(s.l2, 3)}
          {s.queries ? ` · ${s.queries} queries` : ''}
        </dd>
      </dl>
    </li>
  );
}

export function GalleryView({ params }: { params: Params }) {
  const id = encodeURIComponent(params.id);
  const q = new URLSearchParams(location.search);
  const offset = Math.max(0, Number(q.get('offset') ?? 0) || 0);
  const query = new URLSearchParams();
  for (const k of ['model', 'attack', 'eps', 'flipped', 'label']) {
    const v = q.get(k);
    if (v) query.set(k, v);
  }
  query.set('offset', String(offset));
  query.set('limit', String(PAGE));
  const { data, error } = useJson<SamplePage>(`/api/campaigns/${id}/samples?${query}`);
  const set = (k: string, v: string) => {
    const n = new URLSearchParams(location.search);
    if (v) n.set(k, v);
    else n.delete(k);
    n.delete('offset');
    navigate(`${location.pathname}?${n}`);
  };
  const go = (off: number) => {
    const n = new URLSearchParams(location.search);
    n.set('offset', String(off));
    navigate(`${location.pathname}?${n}`);
  };
  const sel = (k: string, label: string, options: Array<[string, string]>) => (
    <label>
      {label}
      <select value={q.get(k) ?? ''} onChange={(e) => set(k, (e.target as HTMLSelectElement).value)}>
        <option value="">all</option>
        {options.map(([v, t]) => (
          <option value={v}>{t}</option>
        ))}
      </select>
    </label>
  );
  return (
    <section>
      <h1>
        Gallery <span class="sub">{params.id}</span>
      </h1>
      <p class="links">
        <a href={`/campaigns/${id}`}>Campaign</a> · <a href={`/scorecard/${id}`}>Scorecard</a>
      </p>
      {!data ? (
        <Status error={error} what="the samples" />
      ) : (
        <>
          <form class="filters" aria-label="Filter samples" onSubmit={(e) => e.preventDefault()}>
            {sel('flipped', 'Outcome', [
              ['true', 'flipped'],
              ['false', 'not flipped'],
            ])}
            {sel(
              'label',
              'True class',
              data.facets.classes.map((c) => [String(c.value), c.name]),
            )}
            {sel(
              'eps',
              'ε',
              data.facets.eps.map((e) => [String(e), epsText(e)]),
            )}
            {sel(
              'attack',
              'Attack',
              data.facets.attacks.map((a) => [a, a]),
            )}
            {data.facets.models.length > 1
              ? sel(
                  'model',
                  'Model',
                  data.facets.models.map((m) => [m, m]),
                )
              : null}
          </form>
          <p class="count" aria-live="polite" id="sample-count">
            {data.total} samples{data.total ? `, showing ${offset + 1}–${Math.min(offset + PAGE, data.total)}` : ''}
          </p>
          {data.rows.length ? (
            <ul class="gallery">
              {data.rows.map((s) => (
                <Sample id={id} s={s} />
              ))}
            </ul>
          ) : (
            <p class="empty">No samples match.</p>
          )}
          <nav class="pager" aria-label="Pages">
            <button type="button" disabled={offset === 0} onClick={() => go(Math.max(0, offset - PAGE))}>
              Previous
            </button>
            <span>
              page {Math.floor(offset / PAGE) + 1} of {Math.max(1, Math.ceil(data.total / PAGE))}
            </span>
            <button type="button" disabled={offset + PAGE >= data.total} onClick={() => go(offset + PAGE)}>
              Next
            </button>
          </nav>
          <p class="note">
            Images are the model's 8-bit input (the test films after resizing). The difference is mid-grey +
            (adversarial − clean) × the amplification shown (±L∞ spans black to white), so a perturbation of a few grey
            levels is visible.
          </p>
        </>
      )}
    </section>
  );
}
