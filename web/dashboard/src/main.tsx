/** The dashboard's browser app: page shell (header, navigation, main, footer), routing and the API-key prompt. */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import './style.css';
import { apiKey, onAuthNeeded, setApiKey } from './api';
import { match, onNavigate, type Params } from './router';
import { views, type View } from './views/index';

function current(): { view: View | null; params: Params } {
  for (const v of views) {
    const p = match(v.path, location.pathname);
    if (p) return { view: v, params: p };
  }
  return { view: null, params: {} };
}

function KeyPrompt({ onDone }: { onDone: () => void }) {
  const [value, setValue] = useState('');
  return (
    <form
      class="key-prompt"
      onSubmit={(e) => {
        e.preventDefault();
        setApiKey(value.trim() || null);
        onDone();
      }}
    >
      <h2>API key needed</h2>
      <p>
        This dashboard is reachable from other machines, so it asks for an API key with the gateway's{' '}
        <code>auditor</code> role (make one with{' '}
        <code>medshield gateway key add --config gateway.yaml --role auditor</code>). It is kept for this browser tab
        only.
      </p>
      <label for="api-key">API key</label>
      <input
        id="api-key"
        type="password"
        autocomplete="off"
        value={value}
        onInput={(e) => setValue((e.target as HTMLInputElement).value)}
      />
      <button type="submit">Use this key</button>
      {apiKey() ? (
        <p class="error" role="alert">
          The key given was refused.
        </p>
      ) : null}
    </form>
  );
}

function App() {
  const [, setTick] = useState(0);
  const [needKey, setNeedKey] = useState(false);
  const [gen, setGen] = useState(0);
  useEffect(
    () =>
      onNavigate(() => {
        setTick((t) => t + 1);
        window.scrollTo(0, 0);
      }),
    [],
  );
  useEffect(() => onAuthNeeded(() => setNeedKey(true)), []);
  const { view, params } = current();
  const title = view ? view.title(params) : 'Not found';
  useEffect(() => {
    document.title = `${title} · medshield dashboard`;
  }, [title]);
  const navActive = (v: View) =>
    v.path === '/'
      ? location.pathname === '/' || location.pathname.startsWith('/campaigns')
      : location.pathname.startsWith(v.path);
  const View = view?.component;
  return (
    <>
      <a class="skip" href="#main" data-native>
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href="/">
          medshield
        </a>
        <nav aria-label="Views">
          <ul>
            {views
              .filter((v) => v.nav)
              .map((v) => (
                <li>
                  <a href={v.path} aria-current={navActive(v) ? 'page' : undefined}>
                    {v.nav}
                  </a>
                </li>
              ))}
          </ul>
        </nav>
        <span class="readonly" title="This dashboard only reads the results store">
          read-only
        </span>
      </header>
      <main id="main" tabIndex={-1}>
        {needKey ? (
          <KeyPrompt
            onDone={() => {
              setNeedKey(false);
              setGen((g) => g + 1);
            }}
          />
        ) : View ? (
          <View key={`${location.pathname}#${gen}`} params={params} />
        ) : (
          <section>
            <h1>Not found</h1>
            <p>
              No view at <code>{location.pathname}</code>. <a href="/">Back to the campaigns</a>.
            </p>
          </section>
        )}
      </main>
      <footer class="bottom">
        medshield dashboard · read-only · all assets served by this server ·{' '}
        <a href="/openapi.json" data-native>
          OpenAPI
        </a>
      </footer>
    </>
  );
}

const root = document.getElementById('app')!;
root.textContent = '';
render(<App />, root);
