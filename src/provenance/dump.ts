/** Human-readable listing of a file's signature structure (PS3.3 C.12.1 Digital Signatures Macro). */
import {
  parseDicom,
  findElement,
  stringValue,
  usValue,
  atValues,
  valueBytes,
  tagStr,
  type DicomElement,
  type ParsedDicom,
} from '../data/dicom-parse.js';
import { parseCertificate, subjectOf } from './certificates.js';
import { TAG } from './sign.js';

function describeItem(p: ParsedDicom, elements: DicomElement[], where: string, lines: string[]): void {
  const macSeq = findElement(elements, TAG.MACParametersSequence);
  const sigSeq = findElement(elements, TAG.DigitalSignaturesSequence);
  if (macSeq || sigSeq) lines.push(`${where}:`);
  macSeq?.items?.forEach((it, i) => {
    const tags = atValues(p, findElement(it.elements, TAG.DataElementsSigned));
    lines.push(`  MAC Parameters #${i + 1}  (4FFE,0001) item at offset ${it.start}`);
    lines.push(`    MAC ID Number            ${usValue(p, findElement(it.elements, TAG.MACIDNumber))}`);
    lines.push(
      `    MAC Transfer Syntax      ${stringValue(p, findElement(it.elements, TAG.MACCalculationTransferSyntaxUID))}`,
    );
    lines.push(`    MAC Algorithm            ${stringValue(p, findElement(it.elements, TAG.MACAlgorithm))}`);
    lines.push(
      `    Data Elements Signed     ${tags.length} elements: ${tags.slice(0, 6).map(tagStr).join(' ')}` +
        `${tags.length > 6 ? ' … ' + tags.slice(-2).map(tagStr).join(' ') : ''}`,
    );
  });
  sigSeq?.items?.forEach((it, i) => {
    const certEl = findElement(it.elements, TAG.CertificateOfSigner);
    let subject = '(none)';
    if (certEl) {
      try {
        subject = subjectOf(parseCertificate(valueBytes(p, certEl)));
      } catch {
        subject = '(unreadable certificate)';
      }
    }
    const sig = findElement(it.elements, TAG.Signature);
    lines.push(`  Digital Signature #${i + 1}  (FFFA,FFFA) item at offset ${it.start}`);
    lines.push(`    MAC ID Number            ${usValue(p, findElement(it.elements, TAG.MACIDNumber))}`);
    lines.push(`    Digital Signature UID    ${stringValue(p, findElement(it.elements, TAG.DigitalSignatureUID))}`);
    lines.push(
      `    Digital Signature Time   ${stringValue(p, findElement(it.elements, TAG.DigitalSignatureDateTime))}`,
    );
    lines.push(`    Certificate Type         ${stringValue(p, findElement(it.elements, TAG.CertificateType))}`);
    lines.push(`    Certificate of Signer    ${subject}`);
    lines.push(`    Signature                ${sig ? sig.length + ' bytes' : '(none)'}`);
    const ts = findElement(it.elements, TAG.CertifiedTimestamp);
    if (ts)
      lines.push(
        `    Certified Timestamp      ` +
          `${stringValue(p, findElement(it.elements, TAG.CertifiedTimestampType))}, ${ts.length} bytes`,
      );
    if (findElement(it.elements, TAG.DigitalSignaturePurposeCodeSequence))
      lines.push('    Purpose Code Sequence    present');
  });
  for (const e of elements)
    e.items?.forEach((it, i) =>
      describeItem(p, it.elements, `${where === 'main data set' ? '' : where + '.'}${tagStr(e.tag)}[${i}]`, lines),
    );
}

export function dumpSignatures(bytes: Uint8Array): string {
  const p = parseDicom(bytes);
  const lines = [
    `transfer syntax: ${p.ts.name} (${p.ts.uid})${p.hasPreamble ? '' : ', no preamble'}` +
      `${p.meta.length ? '' : ', no file meta information'}`,
    `data set: ${p.dataset.length} top-level elements from offset ${p.datasetStart}`,
  ];
  const before = lines.length;
  describeItem(p, p.dataset, 'main data set', lines);
  if (lines.length === before) lines.push('no digital signatures');
  return lines.join('\n') + '\n';
}
