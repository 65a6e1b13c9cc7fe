/**
 * Rename and copy as sequences of Cloudreve calls. The server's move/copy keeps names and its rename
 * stays in one folder, so "to another folder under a new name" takes several calls; each sequence
 * undoes its earlier steps when a later one fails, and never deletes anything the caller still needs.
 */
import { randomBytes } from 'node:crypto';
import { isVfsError, opError } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';
import { baseName, joinPath, parentPath } from '../../src/path.js';
import type { Entry, MoveOptions, OpOptions } from '../../src/vfs.js';
import { cloudreveCode, recode } from './api-error.js';
import type { CloudreveClient } from './client.js';
import { encodeName } from './names.js';
import { pathToUri } from './uri.js';
import { CODE } from './codes.js';

/** The multi-call rename/copy sequences of CloudreveVfs. */
export class MoveSequences {
  constructor(
    private readonly client: CloudreveClient,
    private readonly logger: Logger,
    private readonly permanentDelete: boolean,
    private readonly stat: (path: string, options: OpOptions) => Promise<Entry>,
  ) {}

  /**
   * Make `dst` free for a rename/copy of `entry`: EEXIST without overwrite, type and emptiness
   * checks with it. The replaced object is renamed aside (not deleted) so that a failed move can
   * put it back; returns its temporary path.
   */
  async makeRoom(entry: Entry, dst: string, options: MoveOptions, op: 'rename' | 'copy'): Promise<string | undefined> {
    const existing = await this.stat(dst, options).catch((e) => {
      if (isVfsError(e, 'ENOENT')) return undefined;
      throw e;
    });
    if (!existing) return undefined;
    if (!options.overwrite) throw opError('EEXIST', 'destination exists', op, dst);
    if (entry.type === 'file' && existing.type === 'directory') throw opError('EISDIR', 'destination is a directory', op, dst);
    if (entry.type === 'directory' && existing.type === 'file') throw opError('ENOTDIR', 'destination is not a directory', op, dst);
    if (existing.type === 'directory') {
      const page = await this.client.listPage(pathToUri(dst), 1, undefined, options.signal, dst);
      if (page.files.length > 0) throw opError('ENOTEMPTY', 'destination directory not empty', op, dst);
    }
    const aside = joinPath(parentPath(dst), tempName('replaced'));
    await this.client.rename(pathToUri(dst), encodeName(baseName(aside)), options.signal, dst);
    return aside;
  }

  /** Undo `makeRoom` after a failure (best effort: the error that matters is the caller's). */
  async putBack(aside: string, dst: string): Promise<void> {
    await this.client.rename(pathToUri(aside), encodeName(baseName(dst)), undefined, dst).catch((e) => {
      this.logger.error('cloudreve: could not restore a replaced object after a failed move; it is still there', { path: aside, error: String(e) });
    });
  }

  /** Remove the object `makeRoom` set aside (trash or permanent, like remove). */
  async discard(aside: string): Promise<void> {
    await this.client.delete([pathToUri(aside)], this.permanentDelete, undefined, aside).catch((e) => {
      this.logger.warn('cloudreve: the replaced object could not be deleted', { path: aside, error: String(e) });
    });
  }

  /**
   * Move `src` to the free path `dst`.
   * - same folder: one rename;
   * - other folder, same name: one move;
   * - other folder, new name: rename in place to the new name, then move (two calls). When the new
   *   name is taken in the *source* folder, rename to a unique temporary name instead, move, then
   *   rename to the final name. If a later step fails, earlier steps are undone (best effort); if
   *   even that fails, an error line in the log says where the object now is — nothing is deleted.
   */
  async moveInto(src: string, dst: string, signal?: AbortSignal): Promise<void> {
    const [srcDir, dstDir, srcName, dstName] = [parentPath(src), parentPath(dst), baseName(src), baseName(dst)];
    if (srcDir === dstDir) {
      await this.renameOrExist(src, dstName, signal);
      return;
    }
    if (srcName === dstName) {
      await this.moveOrExist(src, dstDir, false, signal);
      return;
    }
    let staged = joinPath(srcDir, dstName);
    try {
      await this.client.rename(pathToUri(src), encodeName(dstName), signal, src);
    } catch (e) {
      if (cloudreveCode(e) !== CODE.ObjectExist) throw e;
      staged = joinPath(srcDir, tempName('move'));
      await this.client.rename(pathToUri(src), encodeName(baseName(staged)), signal, src);
    }
    try {
      await this.moveOrExist(staged, dstDir, false, signal);
    } catch (e) {
      await this.undo(`${staged} → ${src}`, () => this.client.rename(pathToUri(staged), encodeName(srcName), undefined, staged));
      throw e;
    }
    const moved = joinPath(dstDir, baseName(staged));
    if (moved === dst) return;
    try {
      await this.renameOrExist(moved, dstName, signal);
    } catch (e) {
      await this.undo(`${moved} → ${src}`, async () => {
        await this.client.move([pathToUri(moved)], pathToUri(srcDir), false, undefined, moved);
        await this.client.rename(pathToUri(joinPath(srcDir, baseName(moved))), encodeName(srcName), undefined, src);
      });
      throw e;
    }
  }

  /**
   * Copy `src` to the free path `dst` (the server's copy keeps names).
   * - other folder, same name: one copy;
   * - other folder, new name: copy, then rename the copy; when the old name is taken in the target
   *   folder (40004), go through a staging folder instead;
   * - same folder (the copy would collide with its source): staging folder — create a hidden
   *   folder next to `dst`, copy into it, rename the copy there, move it out, delete the folder.
   * A failed step removes what the copy created; the source is never touched.
   */
  async copyInto(src: string, dst: string, signal?: AbortSignal): Promise<void> {
    const [srcDir, dstDir, srcName, dstName] = [parentPath(src), parentPath(dst), baseName(src), baseName(dst)];
    if (srcDir !== dstDir) {
      if (srcName === dstName) {
        await this.moveOrExist(src, dstDir, true, signal);
        return;
      }
      try {
        await this.client.move([pathToUri(src)], pathToUri(dstDir), true, signal, src);
      } catch (e) {
        if (cloudreveCode(e) !== CODE.ObjectExist) throw e;
        await this.copyViaStaging(src, dst, signal);
        return;
      }
      const copied = joinPath(dstDir, srcName);
      try {
        await this.renameOrExist(copied, dstName, signal);
      } catch (e) {
        await this.undo(`remove ${copied}`, () => this.client.delete([pathToUri(copied)], true, undefined, copied));
        throw e;
      }
      return;
    }
    await this.copyViaStaging(src, dst, signal);
  }

  private async copyViaStaging(src: string, dst: string, signal?: AbortSignal): Promise<void> {
    const staging = joinPath(parentPath(dst), tempName('copy'));
    await this.client.create(pathToUri(staging), 'folder', true, signal, staging);
    try {
      await this.client.move([pathToUri(src)], pathToUri(staging), true, signal, src);
      const inside = joinPath(staging, baseName(src));
      if (baseName(src) !== baseName(dst)) await this.client.rename(pathToUri(inside), encodeName(baseName(dst)), signal, inside);
      await this.moveOrExist(joinPath(staging, baseName(dst)), parentPath(dst), false, signal);
    } finally {
      await this.undo(`remove ${staging}`, () => this.client.delete([pathToUri(staging)], true, undefined, staging));
    }
  }

  private async renameOrExist(p: string, newName: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.client.rename(pathToUri(p), encodeName(newName), signal, p);
    } catch (e) {
      if (cloudreveCode(e) === CODE.ObjectExist && isVfsError(e)) throw recode(e, 'EEXIST', `"${newName}" exists`, 'rename', p);
      throw e;
    }
  }

  private async moveOrExist(p: string, dir: string, copy: boolean, signal?: AbortSignal): Promise<void> {
    try {
      await this.client.move([pathToUri(p)], pathToUri(dir), copy, signal, p);
    } catch (e) {
      if (cloudreveCode(e) === CODE.ObjectExist && isVfsError(e)) throw recode(e, 'EEXIST', `the name exists in ${JSON.stringify(dir)}`, copy ? 'copy' : 'move', p);
      throw e;
    }
  }

  /** Run a compensating step; log (never throw) when it fails. */
  private async undo(what: string, step: () => Promise<unknown>): Promise<void> {
    try {
      await step();
    } catch (e) {
      this.logger.error(`cloudreve: could not undo a partial rename/copy (${what})`, { error: String(e) });
    }
  }
}

/** A unique, short, hidden name for intermediate steps. */
function tempName(kind: string): string {
  return `.cloudmount-${kind}-${randomBytes(6).toString('hex')}`;
}
