/** View 6: a campaign's evidence bundle — what is in it, how it is signed and verified, and the download button. */
import { useState } from 'preact/hooks';
import { getImage } from '../api';
import type { Params } from '../router';
import { Status, useJson } from './common';

export function EvidenceView({ params }: { params: Params }) {
  const id = params.id;
  const info = useJson<{ signer: string | null; gateway: boolean }>('/api/evidence');
  const [state, setState] = useState<{ busy: boolean; error: string | null; href: string | null }>({
    busy: false,
    error: null,
    href: null,
  });
  const download = async () => {
    setState({ busy: true, error: null, href: null });
    try {
      const sbom = new URLSearchParams(location.search).get('sbom') === '0' ? '?sbom=0' : '';
      const { src } = await getImage(`/api/campaigns/${encodeURIComponent(id)}/evidence.zip${sbom}`);
      setState({ busy: false, error: null, href: src });
      const a = document.createElement('a');
      a.href = src;
      a.download = `evidence-${id}.zip`;
      document.body.append(a);
      a.click();
      a.remove();
    } catch (e) {
      setState({ busy: false, error: (e as Error).message, href: null });
    }
  };
  return (
    <section>
      <h1>Evidence bundle — {id}</h1>
      <p>
        One zip with what a premarket cybersecurity file (FDA, section 524B) or an AI committee asks for about this
        campaign:
      </p>
      <ul id="evidence-contents">
        <li>the campaign's HTML report, its status (results per model × attack × ε) and every job result (CSV);</li>
        <li>the campaign spec and the model cards (architecture, training data, metrics, weights SHA-256);</li>
        <li>a CycloneDX SBOM of the runtime dependencies;</li>
        <li>
          the gateway's threat model (STRIDE){info.data?.gateway ? ' and the verification of its audit log' : ''};
        </li>
        <li>
          <code>manifest.json</code>: the SHA-256 of every file, and <code>manifest.jws</code>: its signature.
        </li>
      </ul>
      {!info.data ? (
        <Status error={info.error} what="the signing set-up" />
      ) : info.data.signer ? (
        <p id="evidence-signer">
          The manifest is signed by <b>{info.data.signer}</b>. Check it with{' '}
          <code>medshield verify evidence-{id}.zip --trust CA.pem</code>: any changed, added or missing file fails.
        </p>
      ) : (
        <p id="evidence-signer">
          This dashboard holds no signing key, so the bundle's manifest is <b>not signed</b>. Make a signed one with{' '}
          <code>medshield evidence --campaign {id} --store URL --key KEY.pem --cert CERT.pem --out bundle.zip</code> (or
          start the dashboard with MEDSHIELD_EVIDENCE_KEY and MEDSHIELD_EVIDENCE_CERT).
        </p>
      )}
      <p>
        <button type="button" id="evidence-download" onClick={download} disabled={state.busy}>
          {state.busy ? 'Building the bundle (the SBOM takes ~20 s)…' : 'Download the evidence bundle'}
        </button>
      </p>
      {state.error ? (
        <p class="error" role="alert">
          Could not build the bundle: {state.error}
        </p>
      ) : null}
      {state.href ? (
        <p id="evidence-ready">
          Ready:{' '}
          <a href={state.href} download={`evidence-${id}.zip`}>
            evidence-{id}.zip
          </a>
        </p>
      ) : null}
      <p>
        <a href={`/campaigns/${encodeURIComponent(id)}`}>Back to the campaign</a>
      </p>
    </section>
  );
}
