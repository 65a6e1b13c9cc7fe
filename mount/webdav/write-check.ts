/**
 * The preconditions of a change: the request's If header (RFC 4918 section 10.4) must hold and it
 * must submit the token of every lock protecting what it changes.
 */
import type { Dav } from './context.js';
import { etagOf } from './conditional.js';
import { hrefFor, pathFromUrlOrUndefined } from './href.js';
import { evaluateIf, parseIfHeader, submittedTokens } from './if-header.js';
import type { IfList } from './if-header.js';
import { statOrNull } from './lookup.js';
import { HttpError, errorXml } from './reply.js';
import { escapeXml } from './xml.js';

/** The parsed If header of a request, memoised; 400 when it is malformed. */
export function ifListsOf(dav: Dav): IfList[] | undefined {
  const cached = (dav as Dav & { _if?: IfList[] | null })._if;
  if (cached !== undefined) return cached ?? undefined;
  const header = dav.req.headers.if;
  const lists = typeof header === 'string' && header.trim() !== '' ? parseIfHeader(header) : undefined;
  (dav as Dav & { _if?: IfList[] | null })._if = lists ?? null;
  return lists;
}

export interface WriteCheck {
  /** The path being changed. */
  path: string;
  /** The change covers everything below `path` (DELETE/MOVE of a collection, COPY onto one). */
  tree?: boolean;
  /** The change adds or removes `path` from its parent. */
  membership?: boolean;
}

/**
 * The preconditions of a modifying request: its If header must hold (else 412) and it must submit
 * the token of every lock protecting what it changes (else 423 with lock-token-submitted).
 */
export async function checkWritable(dav: Dav, targets: WriteCheck[]): Promise<void> {
  const { state } = dav;
  const lists = ifListsOf(dav);
  if (lists) {
    const holds = await evaluateIf(lists, {
      pathOf: (tag) => (tag === undefined ? dav.path : pathFromUrlOrUndefined(state, tag)),
      tokenCovers: async (token, path) => (await state.locks.covering(path)).some((l) => l.token === token),
      etagOf: async (path) => {
        const e = await statOrNull(dav, path);
        return e ? etagOf(e) : undefined;
      },
    });
    if (!holds) throw new HttpError(412, 'the If header conditions do not hold');
  }
  if (state.locks.empty) return;
  const submitted = lists ? submittedTokens(lists) : new Set<string>();
  for (const t of targets) {
    for (const lock of await state.locks.protecting(t.path, t)) {
      // A token counts only for the user who took the lock (when the share has users).
      if (!submitted.has(lock.token) || (lock.user !== undefined && lock.user !== dav.user)) {
        const href = escapeXml(hrefFor(state, lock.root, false));
        throw new HttpError(423, `locked: ${lock.root}`, {}, errorXml(`<D:lock-token-submitted><D:href>${href}</D:href></D:lock-token-submitted>`));
      }
    }
  }
}
