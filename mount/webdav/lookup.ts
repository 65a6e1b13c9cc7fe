/** What handlers ask the Vfs about a request's paths, in WebDAV's terms. */
import { isVfsError } from '../../src/errors.js';
import { parentPath } from '../../src/path.js';
import type { Entry } from '../../src/vfs.js';
import type { Dav } from './context.js';
import { HttpError } from './reply.js';

/** Stat that says undefined instead of ENOENT. */
export async function statOrNull(dav: Dav, path: string): Promise<Entry | undefined> {
  try {
    return await dav.state.vfs.stat(path, { signal: dav.signal });
  } catch (e) {
    if (isVfsError(e, 'ENOENT', 'ENOTDIR')) return undefined;
    throw e;
  }
}

/** ENOENT of the parent while creating something is a 409 Conflict in WebDAV. */
export async function parentConflict(dav: Dav, path: string, e: unknown): Promise<never> {
  if (isVfsError(e, 'ENOENT', 'ENOTDIR')) {
    const parent = await statOrNull(dav, parentPath(path));
    if (!parent || parent.type !== 'directory') throw new HttpError(409, 'the parent collection does not exist');
  }
  throw e;
}
