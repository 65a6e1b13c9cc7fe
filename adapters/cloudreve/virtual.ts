/**
 * Cloudreve's trash and file versions as read-only virtual folders of CloudreveVfs:
 *
 * - `/.Trash` lists `cloudreve://trash` (what the web UI's trash shows). `mv /.Trash/x <dest>` restores
 *   (`POST /file/restore`, back to its `sys:restore_uri`, then a move when <dest> is elsewhere);
 *   `rm /.Trash/x` deletes it for good (`DELETE /file` with `skip_soft_delete`). The server's trash
 *   navigator can list, delete, restore and give info, but neither download nor enter a folder
 *   (`pkg/filemanager/fs/dbfs/navigator.go`, `trashNavigatorCapability`): reading a trashed file or
 *   listing inside a trashed folder is EACCES ("restore it first").
 * - `/.versions/<path>` mirrors the drive's folders; a file there is a folder of its versions
 *   (`GET /file/info?extended=true`, `extended_info.entities` of type 0), named by creation time
 *   (UTC, `:` as `-`), newest first in time order; each reads through `POST /file/url` with `entity`.
 *
 * Both are unlisted (VfsCapabilities.unlistedNames): `ls /` and PROPFIND of the root do not show
 * them and `find` does not descend into them; they are there when asked for by path.
 */
import { VfsError, isVfsError, opError } from '../../src/errors.js';
import { baseName, isSameOrInside, joinPath, parentPath } from '../../src/path.js';
import type { Entry, OpOptions } from '../../src/vfs.js';
import type { Readable } from 'node:stream';
import type { CloudreveClient } from './client.js';
import type { ContentReader } from './content.js';
import { decodeName } from './names.js';
import type { EntityInfo, FileResponse } from './types.js';
import { pathToUri, uriToPath } from './uri.js';

export interface VirtualFolderOptions {
  /** Where the trash appears (default "/.Trash"); false: nowhere. */
  trash?: string | false;
  /** Where versions appear (default "/.versions"); false: nowhere. */
  versions?: string | false;
}

/** Most trash entries listed (pages of 2000). */
const MAX_TRASH_PAGES = 100;

type Where = { kind: 'trash' | 'versions'; root: string; rest: string };

export class VirtualFolders {
  readonly trashRoot: string | undefined;
  readonly versionsRoot: string | undefined;
  private readonly epoch = new Date(0);

  constructor(
    private readonly client: CloudreveClient,
    private readonly content: ContentReader,
    options: VirtualFolderOptions,
    /** The Vfs's own stat and list (real paths). */
    private readonly real: { stat(p: string, o?: OpOptions): Promise<Entry>; list(p: string, o?: OpOptions): Promise<Entry[]> },
  ) {
    const root = (v: string | false | undefined, dflt: string) => (v === false ? undefined : '/' + (v ?? dflt).replace(/^\/+|\/+$/g, ''));
    this.trashRoot = root(options.trash, '.Trash');
    this.versionsRoot = root(options.versions, '.versions');
    for (const r of [this.trashRoot, this.versionsRoot]) {
      if (r !== undefined && (r === '/' || r.indexOf('/', 1) >= 0)) throw new Error(`a virtual folder must be a name in the root, not ${JSON.stringify(r)}`);
    }
  }

  /** Root names for VfsCapabilities.unlistedNames. */
  get names(): string[] {
    return [this.trashRoot, this.versionsRoot].filter((r): r is string => r !== undefined).map((r) => r.slice(1));
  }

  /** Which virtual folder `p` is in, if any. */
  match(p: string): Where | undefined {
    for (const [kind, root] of [['trash', this.trashRoot], ['versions', this.versionsRoot]] as const) {
      if (root !== undefined && isSameOrInside(root, p)) return { kind, root, rest: p === root ? '/' : p.slice(root.length) };
    }
    return undefined;
  }

  readOnly(operation: string, p: string): VfsError {
    return opError('EROFS', this.match(p)?.kind === 'trash' ? 'the trash only takes mv out (restore) and rm (delete for good)' : 'versions are read-only', operation, p);
  }

  async stat(p: string, where: Where, options: OpOptions): Promise<Entry> {
    if (where.rest === '/') return this.dir(p);
    if (where.kind === 'trash') {
      const item = await this.trashItem(where.rest, options);
      return { ...toEntry(p, item.file), path: p, name: baseName(p) };
    }
    const found = await this.version(where.rest, options);
    return found.kind === 'dir' ? this.dir(p, found.entry.mtime) : this.versionEntry(p, found.entity);
  }

  async list(p: string, where: Where, options: OpOptions): Promise<Entry[]> {
    if (where.kind === 'trash') {
      if (where.rest !== '/') {
        const item = await this.trashItem(where.rest, options);
        if (item.file.type === 1) throw opError('EACCES', `Cloudreve cannot look inside a trashed folder; restore it first (mv it out of ${this.trashRoot})`, 'list', p);
        throw opError('ENOTDIR', 'not a directory', 'list', p);
      }
      return [...(await this.trash(options)).entries()].map(([name, file]) => ({ ...toEntry(joinPath(p, name), file), name }));
    }
    const found = await this.version(where.rest, options);
    if (found.kind === 'version') throw opError('ENOTDIR', 'not a directory', 'list', p);
    if (found.entry.type === 'directory') {
      // Every child is a folder here: a file's folder holds its versions.
      return (await this.real.list(found.real, options)).map((e) => this.dir(joinPath(p, e.name), e.mtime));
    }
    return (await this.versions(found.real, options)).map(([name, entity]) => this.versionEntry(joinPath(p, name), entity));
  }

  async read(p: string, where: Where, offset: number, length: number | undefined, options: OpOptions): Promise<Readable> {
    if (where.kind === 'trash') {
      if (where.rest === '/') throw opError('EISDIR', 'is a directory', 'read', p);
      await this.trashItem(where.rest, options);
      throw opError('EACCES', `Cloudreve does not serve trashed files; restore it first (mv it out of ${this.trashRoot})`, 'read', p);
    }
    const found = where.rest === '/' ? undefined : await this.version(where.rest, options);
    if (!found || found.kind === 'dir') throw opError('EISDIR', 'is a directory', 'read', p);
    return this.content.read(found.real, offset, length, options.signal, found.entity.id);
  }

  /** `mv` out of the trash: restore, then move to `dst` when that is not where it came from. Returns the restored path. */
  async restore(p: string, where: Where, options: OpOptions): Promise<string> {
    if (where.kind !== 'trash' || where.rest === '/' || parentPath(where.rest) !== '/') throw this.readOnly('rename', p);
    const item = await this.trashItem(where.rest, options);
    const restoreUri = item.file.metadata?.['sys:restore_uri'];
    const back = restoreUri ? uriToPath(restoreUri) : undefined;
    if (!back) throw opError('EIO', 'the trashed item carries no restore path', 'restore', p);
    await this.client.restore([item.file.path], options.signal, p);
    return back;
  }

  /** `rm` in the trash: delete for good. */
  async purge(p: string, where: Where, options: OpOptions): Promise<void> {
    if (where.kind !== 'trash' || where.rest === '/' || parentPath(where.rest) !== '/') throw this.readOnly('remove', p);
    const item = await this.trashItem(where.rest, options);
    await this.client.delete([item.file.path], true, options.signal, p);
  }

  // ---- internals ---------------------------------------------------------------------------

  private dir(p: string, mtime = this.epoch): Entry {
    return { path: p, name: baseName(p), type: 'directory', size: 0, mtime };
  }

  private versionEntry(p: string, e: EntityInfo): Entry {
    const t = new Date(e.created_at);
    return { path: p, name: baseName(p), type: 'file', size: Number(e.size) || 0, mtime: Number.isNaN(t.getTime()) ? this.epoch : t, etag: `version:${e.id}`, id: e.id };
  }

  /** The trash's items by shown name (a name taken twice gets ` (2)`, ` (3)`… in listing order). */
  private async trash(options: OpOptions): Promise<Map<string, FileResponse>> {
    const out = new Map<string, FileResponse>();
    let token: string | undefined;
    for (let page = 0; page < MAX_TRASH_PAGES; page++) {
      const res = await this.client.listUri('cloudreve://trash', 2000, token, options.signal, this.trashRoot);
      for (const f of res.files) {
        const name = decodeName(f.name);
        let shown = name;
        for (let n = 2; out.has(shown); n++) shown = `${name} (${n})`;
        out.set(shown, f);
      }
      token = res.pagination.next_token;
      if (!token) break;
    }
    return out;
  }

  private async trashItem(rest: string, options: OpOptions): Promise<{ file: FileResponse }> {
    const notFound = () => opError('ENOENT', 'not in the trash', 'trash', this.trashRoot + rest);
    if (parentPath(rest) !== '/') throw notFound(); // the server cannot enter trashed folders
    const file = (await this.trash(options)).get(baseName(rest));
    if (!file) throw notFound();
    return { file };
  }

  /** Versions of the file at `real`, by name (time of creation), oldest first. */
  private async versions(real: string, options: OpOptions): Promise<Array<[string, EntityInfo]>> {
    const info = await this.client.infoExtended(pathToUri(real), options.signal, real);
    const entities = (info.extended_info?.entities ?? []).filter((e) => Number(e.type) === 0);
    entities.sort((a, b) => Date.parse(a.created_at) - Date.parse(b.created_at));
    const out: Array<[string, EntityInfo]> = [];
    const taken = new Set<string>();
    for (const e of entities) {
      const t = new Date(e.created_at);
      let name = Number.isNaN(t.getTime()) ? `version-${e.id}` : t.toISOString().replace(/:/g, '-');
      if (taken.has(name)) name = `${name}~${e.id}`;
      taken.add(name);
      out.push([name, e]);
    }
    return out;
  }

  /** `/.versions<rest>`: a real folder or file (shown as a folder), or one version of a file. */
  private async version(rest: string, options: OpOptions): Promise<{ kind: 'dir'; real: string; entry: Entry } | { kind: 'version'; real: string; entity: EntityInfo }> {
    try {
      return { kind: 'dir', real: rest, entry: await this.real.stat(rest, options) };
    } catch (e) {
      if (!isVfsError(e, 'ENOENT') && !isVfsError(e, 'ENOTDIR')) throw e;
      const parent = parentPath(rest);
      const file = parent === '/' ? undefined : await this.real.stat(parent, options).catch(() => undefined);
      if (!file || file.type !== 'file') throw e;
      const match = (await this.versions(parent, options)).find(([name]) => name === baseName(rest));
      if (!match) throw e;
      return { kind: 'version', real: parent, entity: match[1] };
    }
  }
}

function toEntry(path: string, f: FileResponse): Entry {
  const mtime = new Date(f.updated_at);
  return {
    path, name: baseName(path), type: f.type === 1 ? 'directory' : 'file', size: f.type === 1 ? 0 : Number(f.size) || 0,
    mtime: Number.isNaN(mtime.getTime()) ? new Date(0) : mtime, id: f.id,
  };
}
