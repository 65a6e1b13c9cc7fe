/**
 * Couchdrop's rename, delete and mkdir are POSTs the Scheduler does not resend after a reset or a
 * 5xx (the server may have acted); an EIO for it would fail `mv` or a WebDAV MOVE on a single 500.
 * So such a failure is settled by looking (src/settle.ts): the path is where the call would
 * leave it → done; the old state is still there → send again; anything else → the original error.
 */
import { isVfsError } from '../../src/errors.js';
import { settle, withOverrides } from '../../src/settle.js';
import type { CouchdropClient } from './client.js';

/** A client whose rename/delete/mkdir settle ambiguous failures by looking (the rest is the client itself). */
export function settlingClient(client: CouchdropClient): CouchdropClient {
  const exists = async (path: string): Promise<boolean> => {
    try {
      await client.lstat(path);
      return true;
    } catch (e) {
      if (isVfsError(e, 'ENOENT')) return false;
      throw e;
    }
  };
  const overrides: Partial<CouchdropClient> = {
    rename: (from, to, signal) => settle(
      () => client.rename(from, to, signal),
      async () => {
        // Callers rename onto free paths only (a replaced target is moved aside first).
        const [src, dst] = await Promise.all([exists(from), exists(to)]);
        return !src && dst ? 'done' : src && !dst ? 'not-done' : 'unknown';
      },
      async () => {},
    ),
    delete: (path, signal) => settle(
      () => client.delete(path, signal),
      async () => ((await exists(path)) ? 'not-done' : 'done'),
      async () => {},
    ),
    mkdir: (path, signal) => settle(
      () => client.mkdir(path, signal),
      async () => ((await exists(path)) ? 'done' : 'not-done'),
      async () => {},
    ),
  };
  return withOverrides(client, overrides);
}
