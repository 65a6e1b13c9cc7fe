/**
 * Cloudreve's create/rename/move/delete and upload-session calls are POSTs/PUTs the Scheduler must not
 * resend blindly: after a reset, a 5xx from a proxy or a timeout, the server may or may not have done
 * the work, and an EIO for it would fail a user's `mv` or COPY on a single 502 although nothing is
 * wrong. So an ambiguous failure is settled by looking: the
 * object is where the call would put it → done; it is still where it was → send the call again;
 * anything else → the original error.
 */
import { isVfsError } from '../../src/errors.js';
import { baseName, joinPath, parentPath } from '../../src/path.js';
import { settle, withOverrides } from '../../src/settle.js';
import { cloudreveCode, lockConflicts } from './api-error.js';
import type { CloudreveClient } from './client.js';
import { decodeName } from './names.js';
import { uriToPath, pathToUri } from './uri.js';
import { CODE } from './codes.js';

export { isAmbiguousFailure } from '../../src/settle.js';

/** A client whose create/rename/move/delete settle ambiguous failures by looking (the rest is the client itself). */
export function settlingClient(client: CloudreveClient): CloudreveClient {
  const exists = async (uri: string): Promise<boolean> => {
    try {
      await client.info(uri);
      return true;
    } catch (e) {
      if (cloudreveCode(e) === CODE.ParentNotExist || isVfsError(e, 'ENOENT')) return false;
      throw e;
    }
  };
  const sibling = (uri: string, encodedName: string): string => {
    const path = uriToPath(uri) ?? '/';
    return pathToUri(joinPath(parentPath(path), decodeName(encodedName)));
  };
  const inside = (dirUri: string, uri: string): string => {
    const path = uriToPath(uri) ?? '/';
    return pathToUri(joinPath(uriToPath(dirUri) ?? '/', baseName(path)));
  };

  const overrides: Partial<CloudreveClient> = {
    create: (uri, type, errOnConflict, signal, path) => settle(
      () => client.create(uri, type, errOnConflict, signal, path),
      async () => ((await exists(uri)) ? 'done' : 'not-done'),
      () => client.info(uri, signal, path),
    ),
    rename: (uri, newName, signal, path) => {
      const target = sibling(uri, newName);
      return settle(
        () => client.rename(uri, newName, signal, path),
        async () => {
          const [src, dst] = await Promise.all([exists(uri), exists(target)]);
          return !src && dst ? 'done' : src && !dst ? 'not-done' : 'unknown';
        },
        () => client.info(target, signal, path),
      );
    },
    move: (uris, dst, copy, signal, path) => {
      // The sequences move one object at a time; a batch is left as it was.
      if (uris.length !== 1) return client.move(uris, dst, copy, signal, path);
      const [uri] = uris as [string];
      const target = inside(dst, uri);
      return settle(
        () => client.move(uris, dst, copy, signal, path),
        async () => {
          const [src, out] = await Promise.all([exists(uri), exists(target)]);
          // Callers move only into free names, so the target appearing means the move/copy happened.
          if (copy) return out ? 'done' : src ? 'not-done' : 'unknown';
          return !src && out ? 'done' : src && !out ? 'not-done' : 'unknown';
        },
        async () => {},
      );
    },
    // A session the lost answer may have opened cannot be looked up, but it locked the path (for the
    // session's lifetime, a day by default): the resend sees that lock (40073, owner "upload") on this
    // very URI, releases it, cancels the orphan's placeholder when there is one, and opens its own.
    createUploadSession: (req, signal, path) => {
      let lostAnswer = false;
      return settle(
        async () => {
          try {
            return await client.createUploadSession(req, signal, path);
          } catch (e) {
            if (!lostAnswer || cloudreveCode(e) !== CODE.LockConflict) throw e;
            const ours = lockConflicts(e).filter((l) => l.owner?.application?.type === 'upload' && l.path === req.uri && typeof l.token === 'string');
            if (ours.length === 0) throw e;
            await client.releaseLocks(ours.map((l) => l.token!), path);
            const orphan = await client.info(req.uri, signal, path).catch(() => undefined);
            const sessionId = orphan?.metadata?.['sys:upload_session_id'];
            if (sessionId) await client.cancelUpload(sessionId, req.uri, path).catch(() => undefined);
            return await client.createUploadSession(req, signal, path);
          }
        },
        async () => {
          lostAnswer = true;
          return 'not-done';
        },
        () => client.createUploadSession(req, signal, path),
      );
    },
    delete: (uris, permanent, signal, path) => settle(
      () => client.delete(uris, permanent, signal, path),
      async () => {
        const left = await Promise.all(uris.map(exists));
        return left.every((x) => !x) ? 'done' : left.every((x) => x) ? 'not-done' : 'unknown';
      },
      async () => {},
    ),
  };
  return withOverrides(client, overrides);
}
