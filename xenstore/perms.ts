// xenstore node permissions: the `<letter><domid>` strings of XS_GET_PERMS/XS_SET_PERMS.
//
// Mirrors xs_strings_to_perms / xs_perm_to_string (tools/xenstore/xs_lib.c, Xen 4.17): the first entry
// names the owner and the access every other domain gets; later entries override it per domain.
import { XenstoreError } from './errors.js';

/** Access letters: n none, r read, w write, b both. */
export type XsAccess = 'n' | 'r' | 'w' | 'b';

/** One permission entry. */
export interface XsPermission {
  readonly domid: number;
  readonly access: XsAccess;
}

/** "r5" -> { domid: 5, access: 'r' }. Accepts what xs_strings_to_perms accepts (strtol base 0). */
export function parsePermission(text: string): XsPermission {
  const letter = text[0];
  if (letter !== 'n' && letter !== 'r' && letter !== 'w' && letter !== 'b') {
    throw new XenstoreError('EINVAL', `invalid permission '${text}': it must start with n, r, w or b followed by a domid (e.g. r5)`, { code: 'TXL_XS_LIMIT' });
  }
  const rest = text.slice(1);
  let domid: number;
  if (/^[0-9]+$/.test(rest)) domid = /^0[0-7]+$/.test(rest) ? parseInt(rest, 8) : Number(rest);
  else if (/^0[xX][0-9a-fA-F]+$/.test(rest)) domid = parseInt(rest.slice(2), 16);
  else throw new XenstoreError('EINVAL', `invalid permission '${text}': '${rest}' is not a domid`, { code: 'TXL_XS_LIMIT' });
  if (!Number.isSafeInteger(domid) || domid > 0xffffffff) {
    throw new XenstoreError('EINVAL', `invalid permission '${text}': domid out of range`, { code: 'TXL_XS_LIMIT' });
  }
  return { domid, access: letter };
}

/** { domid: 5, access: 'r' } -> "r5". */
export function formatPermission(perm: XsPermission): string {
  return `${perm.access}${perm.domid | 0}`;
}

/** Checks a permission list before it is sent: at least one entry (the owner), valid letters and domids. */
export function checkPermissions(perms: readonly XsPermission[]): void {
  if (perms.length === 0) throw new XenstoreError('EINVAL', 'a permission list needs at least one entry (the owner)', { code: 'TXL_XS_LIMIT' });
  for (const p of perms) {
    if (!['n', 'r', 'w', 'b'].includes(p.access) || !Number.isInteger(p.domid) || p.domid < 0 || p.domid > 0xffffffff) {
      throw new XenstoreError('EINVAL', `invalid permission entry ${JSON.stringify(p)}: access is n|r|w|b, domid an integer 0..2^32-1`, { code: 'TXL_XS_LIMIT' });
    }
  }
}

/** Owner `owner` with default access `others` for everyone else, plus per-domain overrides. */
export function ownedBy(owner: number, others: XsAccess = 'n', ...overrides: XsPermission[]): XsPermission[] {
  return [{ domid: owner, access: others }, ...overrides];
}
