/** Every attack, one line each, keyed by the name typed on the command line. */
import type { Attack } from './types.js';
import { unsupported } from '../errors.js';
import { fgsm } from './fgsm.js';
import { bim } from './bim.js';
import { pgd } from './pgd.js';
import { mifgsm } from './mifgsm.js';
import { cw } from './cw.js';
import { deepfool } from './deepfool.js';
import { apgdCe } from './apgd.js';
import { apgdDlr } from './apgd-dlr.js';
import { apgdT } from './apgd-t.js';
import { fabT } from './fab.js';
import { ead } from './ead.js';
import { jsma } from './jsma.js';
import { autoattack } from './autoattack.js';
import { square } from './square.js';
import { simba, simbaDct } from './simba.js';
import { nes } from './nes.js';
import { hsj } from './hsj.js';
import { boundary } from './boundary.js';
import { transfer } from './transfer.js';

export const ATTACKS: Record<string, Attack> = {
  fgsm,
  bim,
  pgd,
  mifgsm,
  cw,
  deepfool,
  'apgd-ce': apgdCe,
  'apgd-dlr': apgdDlr,
  'apgd-t': apgdT,
  'fab-t': fabT,
  ead,
  jsma,
  autoattack,
  square,
  simba,
  'simba-dct': simbaDct,
  nes,
  hsj,
  boundary,
  transfer,
};

export const ATTACK_NAMES = Object.keys(ATTACKS);

export function getAttack(name: string): Attack {
  const a = ATTACKS[name.toLowerCase()];
  if (!a) throw unsupported(`unknown attack '${name}' (choose ${ATTACK_NAMES.join(', ')})`);
  return a;
}
