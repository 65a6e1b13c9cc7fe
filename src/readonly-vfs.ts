/**
 * ReadonlyVfs: any Vfs with every change refused (EROFS) and `capabilities.readOnly` set, so the
 * frontends only read the capability (the WebDAV Allow header and its early 403, the FUSE `ro`
 * mount flag and file modes) and no mutation can reach the provider whatever path it takes. Reads,
 * watch, quota and the list of share links pass through. Creating or removing a share link and
 * setting dead properties count as changes: they alter what the account shows to others.
 */
import { VfsError } from './errors.js';
import { normalizePath } from './path.js';
import type { DeadPropertyPatch, Entry, MoveOptions, OpOptions, RemoveOptions, ShareLink, ShareLinkOptions, Vfs, VfsCapabilities, WriteData, WriteOptions } from './vfs.js';
import { ForwardingVfs } from './forward.js';

export class ReadonlyVfs extends ForwardingVfs {
  /** The inner Vfs's, read afresh (an adapter may change its own, as MemoryVfs does), with readOnly set. */
  override get capabilities(): VfsCapabilities {
    return { ...this.inner.capabilities, readOnly: true };
  }

  override async write(path: string, _data: WriteData, _options?: WriteOptions): Promise<Entry> {
    throw refused('write', path);
  }

  override async mkdir(path: string, _options?: OpOptions): Promise<Entry> {
    throw refused('mkdir', path);
  }

  override async remove(path: string, _options?: RemoveOptions): Promise<void> {
    throw refused('remove', path);
  }

  override async rename(from: string, to: string, _options?: MoveOptions): Promise<Entry> {
    throw refused('rename', from, to);
  }

  override async copy(from: string, to: string, _options?: MoveOptions): Promise<Entry> {
    throw refused('copy', from, to);
  }

  override async setMtime(path: string, _mtime: Date, _options?: OpOptions): Promise<Entry> {
    throw refused('setMtime', path);
  }

  override async setProps(path: string, _patch: DeadPropertyPatch, _options?: OpOptions): Promise<void> {
    throw refused('setProps', path);
  }

  override async createShare(path: string, _options?: ShareLinkOptions): Promise<ShareLink> {
    throw refused('createShare', path);
  }

  override async removeShare(_id: string, _options?: OpOptions): Promise<void> {
    throw refused('removeShare', '/');
  }
}

/** `vfs` as a read-only Vfs: itself when it is one already. */
export function readOnlyView(vfs: Vfs): Vfs {
  return vfs.capabilities.readOnly ? vfs : new ReadonlyVfs(vfs);
}

function refused(operation: string, path: string, dest?: string): VfsError {
  const p = safePath(path);
  return new VfsError('EROFS', `${operation} ${JSON.stringify(p)}: read-only file system`, {
    provider: 'readonly', operation, path: p, ...(dest !== undefined ? { dest: safePath(dest) } : {}),
  });
}

/** The path for the message; a path too malformed to normalise is still refused with EROFS. */
function safePath(path: string): string {
  try {
    return normalizePath(path);
  } catch {
    return String(path);
  }
}
