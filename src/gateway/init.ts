/**
 * `medshield gateway init`: a ready-to-run gateway folder — gateway.yaml (validated), an API key file
 * with one fresh clinician key (and one auditor key), two test CAs — the image-signer CA the signature policy
 * trusts, with an image-signer key + certificate, and a SEPARATE audit CA issuing the gateway's own
 * audit/result-signing key + certificate, so the gateway's key never chains to the image trust anchor and is
 * never accepted as an image signer — and a SQLite audit path.
 * Private keys, gateway.yaml and keys.json are 0600, the folder and pki/ 0700, whatever the umask and whatever
 * was there before (--force rewrites them with these modes). The API keys are returned once and stored only
 * as scrypt hashes. For production, replace the test CAs with the hospital's PKI (docs/gateway.md).
 */
import { chmodSync, existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { badArgument } from '../errors.js';
import { makeDir, writePrivateFile, writePublicFile, PRIVATE_FILE } from '../secure-files.js';
import { createTestCa, issueCertificate } from '../provenance/index.js';
import { addKey } from './keys.js';
import { validateGatewayConfig } from './config.js';

/**
 * Appended to the generated gateway.yaml: the optional input defences and adversarial-input detectors,
 * commented out. Lines starting `## ` explain; lines starting `# ` are the configuration — removing that
 * `# ` gives a valid config (a test parses exactly that). Kept between the two marker lines.
 */
export const EXAMPLE_START = '## --- optional: input defences and adversarial-input detectors (off by default) ---';
export const EXAMPLE_END = '## --- end of optional input screening ---';
export const inputScreeningExample = (model: string): string =>
  `
${EXAMPLE_START}
## To enable, remove the leading "# " of the configuration lines below and restart the gateway.
## defences: specs as for \`medshield defend\`, applied in order to every image before the model, e.g.
##   'jpeg:q=75' (JPEG re-compression) or 'bitdepth:bits=4+median:k=3' (feature squeezing).
# defences: ['jpeg:q=75']
## detectors: folders written by \`medshield detect --save DIR\`, fitted on THIS gateway's model, e.g.
##   medshield detect --model ${/^[\w./-]+$/.test(model) ? model : `'${model}'`} --detector squeeze --test-attacks ` +
  `pgd --eps 8/255 --save detectors/squeeze --json   (run in this folder)
## threshold: the 5 %-false-positive \`threshold\` that \`detect --json\` prints (results[].threshold; scores above it
## are suspicious). action: flag (answer carries {detector, score}) or reject (422, no prediction). Every score is
## audited. dir is relative to this file; a detector fitted on another model stops the gateway at start-up.
# detectors:
#   - { dir: detectors/squeeze, threshold: 0.9022, action: reject }
${EXAMPLE_END}
`;

/**
 * The config text with the example's configuration lines uncommented (what an operator gets by removing their "# ").
 */
export function uncommentExample(yamlText: string): string {
  const a = yamlText.indexOf(EXAMPLE_START);
  const b = yamlText.indexOf(EXAMPLE_END);
  if (a < 0 || b < a) return yamlText;
  const block = yamlText
    .slice(a, b)
    .split('\n')
    .map((l) => (l.startsWith('# ') ? l.slice(2) : l))
    .join('\n');
  return yamlText.slice(0, a) + block + yamlText.slice(b);
}

export interface InitResult {
  config: string;
  apiKey: string;
  auditorKey: string;
  signerKey: string;
  signerCert: string;
  /** The image-signer CA: the only trust anchor of the signature policy. */
  caCert: string;
  /** The audit CA: issues the gateway's own audit/result-signing certificate (not trusted for images). */
  auditCaCert: string;
  gatewayKey: string;
  gatewayCert: string;
  keysFile: string;
  auditDb: string;
}

export async function initGateway(
  dir: string,
  o: { model?: string; port?: number; force?: boolean } = {},
): Promise<InitResult> {
  if (existsSync(dir) && readdirSync(dir).length && !o.force)
    throw badArgument(`--out '${dir}' exists and is not empty (use --force to overwrite)`);
  makeDir(dir, 0o700, true);
  const pki = path.join(dir, 'pki');
  makeDir(pki, 0o700, true);
  const imageCa = await createTestCa('CN=medshield gateway image-signer test CA,O=medshield');
  const auditCa = await createTestCa('CN=medshield gateway audit test CA,O=medshield');
  const signer = await issueCertificate(imageCa, { keyType: 'ec', subject: 'CN=medshield image signer,O=medshield' });
  const gw = await issueCertificate(auditCa, {
    keyType: 'ec',
    subject: 'CN=medshield gateway audit signer,O=medshield',
  });
  const w = (name: string, text: string, secret: boolean) => {
    const f = path.join(pki, name);
    (secret ? writePrivateFile : writePublicFile)(f, text);
    return f;
  };
  const caCert = w('ca-cert.pem', imageCa.certPem, false);
  w('ca-key.pem', imageCa.keyPem, true);
  const auditCaCert = w('audit-ca-cert.pem', auditCa.certPem, false);
  w('audit-ca-key.pem', auditCa.keyPem, true);
  const signerKey = w('signer-key.pem', signer.keyPem, true);
  const signerCert = w('signer-cert.pem', signer.certPem, false);
  const gatewayKey = w('gateway-key.pem', gw.keyPem, true);
  const gatewayCert = w('gateway-cert.pem', gw.certPem, false);
  const keysFile = path.join(dir, 'keys.json');
  if (existsSync(keysFile))
    writePrivateFile(keysFile, JSON.stringify({ version: 1, scrypt: { N: 16384, r: 8, p: 1 }, keys: [] }));
  const clinician = addKey(keysFile, 'clinician', 'created by gateway init');
  const auditor = addKey(keysFile, 'auditor', 'created by gateway init');
  chmodSync(keysFile, PRIVATE_FILE);
  const cfg = {
    model: o.model ?? 'default',
    listen: { host: '127.0.0.1', port: o.port ?? 8443 },
    signature: { required: true, trustedCas: ['pki/ca-cert.pem'], requireProfile: null, requirePixelCoverage: true },
    inputs: { contentTypes: ['application/dicom'], bodyLimitBytes: 8 * 1024 * 1024 },
    auth: { keysFile: 'keys.json' },
    rateLimit: { perKey: { max: 600, windowMs: 60000 }, perIp: { max: 1200, windowMs: 60000 } },
    output: { mode: 'top1', decimals: 2 },
    queryDetection: { enabled: true, action: 'flag' },
    audit: {
      url: 'sqlite:audit.db',
      signEvery: 100,
      signIntervalSeconds: 60,
      signingKey: 'pki/gateway-key.pem',
      signingCert: 'pki/gateway-cert.pem',
    },
    timeouts: { requestMs: 10000, headersMs: 5000, keepAliveMs: 5000, inferenceMs: 10000, shutdownMs: 10000 },
    logging: { level: 'info' },
  };
  validateGatewayConfig(cfg, 'generated config');
  const config = path.join(dir, 'gateway.yaml');
  const header =
    '# medshield gateway configuration (generated by `medshield gateway init`).\n# ' +
    'Every field and its default: docs/gateway.md. Paths are relative to this file.\n';
  writePrivateFile(config, header + YAML.stringify(cfg) + inputScreeningExample(cfg.model));
  return {
    config,
    apiKey: clinician.apiKey,
    auditorKey: auditor.apiKey,
    signerKey,
    signerCert,
    caCert,
    auditCaCert,
    gatewayKey,
    gatewayCert,
    keysFile,
    auditDb: path.join(dir, 'audit.db'),
  };
}
