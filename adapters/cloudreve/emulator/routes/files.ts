/** Folder and file routes: list (cursor or offset pages), info, create, rename, move/copy, delete, trash, locks. */
import { randomUUID } from 'node:crypto';
import { rfc3339 } from '../auth.js';
import { EmuError, emuFail, paramError } from '../errors.js';
import { readJson } from '../http.js';
import { MY_CAPABILITY, fileJson } from '../responses.js';
import { policyJsonOf } from '../storage/policies.js';
import type { FsNode } from '../store.js';
import { parseUri } from '../uri.js';
import { checkBatch, myUri, requireUser, requireUserBatch, stringList } from './context.js';
import type { Handler, RouteContext } from './context.js';

// ---- pagination -------------------------------------------------------------------------------

function encodeCursor(offset: number): string {
  return Buffer.from(JSON.stringify({ o: offset, n: randomUUID().slice(0, 8) })).toString('base64url');
}

function decodeCursor(token: string): number {
  try {
    const { o } = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { o: unknown };
    if (typeof o === 'number' && Number.isInteger(o) && o >= 0) return o;
  } catch {
    /* fall through */
  }
  // No AppError in the chain → CodeNotSet.
  throw new EmuError(-1, '');
}

function sortChildren(nodes: FsNode[], orderBy: string, direction: string): FsNode[] {
  const dir = direction === 'desc' ? -1 : 1;
  const key = (n: FsNode): number | string => {
    switch (orderBy) {
      case 'name': return n.name;
      case 'size': return n.entity?.data.length ?? 0;
      case 'updated_at': return n.updatedAt.getTime();
      case 'created_at': return n.createdAt.getTime();
      default: return n.id;
    }
  };
  return [...nodes].sort((a, b) => {
    if (a.type !== b.type) return b.type - a.type; // folders first
    const ka = key(a);
    const kb = key(b);
    const c = ka < kb ? -1 : ka > kb ? 1 : 0;
    return c !== 0 ? c * dir : (a.id - b.id) * dir;
  });
}

export const list: Handler = async (ctx) => {
  const q = ctx.url.searchParams;
  const uri = parseUri(q.get('uri'));
  requireUser(ctx);
  const s = ctx.settings;
  let pageSize = Number(q.get('page_size') ?? '') || s.defaultPageSize;
  if (pageSize <= 0) pageSize = s.defaultPageSize;
  pageSize = Math.min(pageSize, s.maxPageSize);
  const prefix = uri.authorityPrefix;
  let parent: Record<string, unknown>;
  let children: FsNode[];
  let listedSegments: string[] = [];
  if (uri.fs === 'trash') {
    children = ctx.store.trash.map((t) => t.node);
    parent = { type: 1, id: '', name: '', path: 'cloudreve://trash', size: 0, metadata: null, created_at: rfc3339(0), updated_at: rfc3339(0) };
  } else if (uri.fs !== 'my') {
    emuFail(403, 'Filesystem not supported by the emulator');
  } else {
    const folder = ctx.store.get(uri.segments);
    if (folder.type !== 1) emuFail(40016, 'Path not exist');
    listedSegments = uri.segments;
    if (uri.query !== undefined) {
      // A search URI: recursive, filtered by `name` (substring, case-folded).
      const sp = new URLSearchParams(uri.query);
      const names = sp.getAll('name').map((n) => n.toLowerCase());
      children = [];
      const walk = (n: FsNode) => {
        for (const c of n.children.values()) {
          if (names.length === 0 || names.some((x) => c.name.toLowerCase().includes(x))) children.push(c);
          if (c.type === 1) walk(c);
        }
      };
      walk(folder);
    } else {
      children = [...folder.children.values()];
    }
    parent = fileJson(ctx.store, folder, prefix);
  }
  const sorted = sortChildren(children, q.get('order_by') ?? 'name', q.get('order_direction') ?? 'asc');
  let offset: number;
  let page = 0;
  if (s.cursorPagination) {
    const token = q.get('next_page_token');
    offset = token ? decodeCursor(token) : 0;
  } else {
    page = Math.max(0, Number(q.get('page') ?? '0') || 0);
    offset = page * pageSize;
  }
  const files = sorted.slice(offset, offset + pageSize).map((n) => fileJson(ctx.store, n, prefix));
  const pagination: Record<string, unknown> = { page, page_size: pageSize };
  if (s.cursorPagination) {
    pagination.is_cursor = true;
    if (offset + pageSize < sorted.length) pagination.next_token = encodeCursor(offset + pageSize);
  } else {
    pagination.total_items = sorted.length;
  }
  return {
    files,
    parent,
    pagination,
    props: {
      capability: MY_CAPABILITY,
      max_page_size: s.maxPageSize,
      order_by_options: ['name', 'size', 'updated_at', 'created_at'],
      order_direction_options: ['asc', 'desc'],
    },
    context_hint: randomUUID(),
    mixed_type: false,
    storage_policy: policyJsonOf(ctx.settings.policies.forFolder(listedSegments)),
  };
};

export const info: Handler = async (ctx) => {
  const q = ctx.url.searchParams;
  let node: FsNode | undefined;
  let prefix = '';
  requireUserFirst(ctx, () => {
    if (q.get('id')) {
      node = findById(ctx.store.root, q.get('id')!);
      if (!node) emuFail(40016, 'Path not exist');
    } else {
      const uri = myUri(q.get('uri'));
      prefix = uri.authorityPrefix;
      if (uri.segments.length === 0) emuFail(403, 'Cannot operate root file');
      node = ctx.store.get(uri.segments);
    }
  });
  const out = fileJson(ctx.store, node!, prefix);
  if (q.get('extended') === 'true') {
    out.extended_info = {
      storage_policy: policyJsonOf(ctx.settings.policies.forFolder(node!.type === 1 ? ctx.store.segmentsOf(node!) : ctx.store.segmentsOf(node!).slice(0, -1))),
      storage_used: node!.entity?.data.length ?? 0,
      // The current content first, then the earlier versions (all type 0 "version" entities).
      entities: [...(node!.entity ? [node!.entity] : []), ...(node!.versions ?? [])]
        .map((e) => ({ id: e.hashId, size: e.data.length, type: 0, created_at: e.createdAt.toISOString() })),
    };
  }
  if (q.get('folder_summary') === 'true' && node!.type === 1) {
    let size = 0, files = 0, folders = 0;
    const walk = (n: FsNode) => {
      for (const c of n.children.values()) {
        if (c.type === 1) { folders++; walk(c); } else { files++; size += c.entity?.data.length ?? 0; }
      }
    };
    walk(node!);
    out.folder_summary = { size, files, folders, completed: true, calculated_at: new Date().toISOString() };
  }
  return out;
};

/** Validate the parameters first where binding comes first, then the login. */
function requireUserFirst(ctx: RouteContext, body: () => void): void {
  requireUser(ctx);
  body();
}

function findById(node: FsNode, id: string): FsNode | undefined {
  if (node.hashId === id) return node;
  for (const c of node.children.values()) {
    const hit = findById(c, id);
    if (hit) return hit;
  }
  return undefined;
}

export const create: Handler = async (ctx) => {
  const body = await readJson(ctx.req, ctx.entry);
  const uri = myUri(body.uri);
  if (body.type !== 'file' && body.type !== 'folder') paramError("Key: 'CreateFileService.Type' Error:Field validation for 'Type' failed on the 'eq=file|eq=folder' tag");
  requireUser(ctx);
  const node = ctx.store.create(uri.segments, body.type === 'folder' ? 1 : 0, body.err_on_conflict === true);
  return fileJson(ctx.store, node, uri.authorityPrefix);
};

export const rename: Handler = async (ctx) => {
  const body = await readJson(ctx.req, ctx.entry);
  const uri = myUri(body.uri);
  if (typeof body.new_name !== 'string' || body.new_name.length === 0 || [...body.new_name].length > 255) paramError('NewName must be 1-255 characters');
  requireUser(ctx);
  const node = ctx.store.rename(uri.segments, body.new_name);
  return fileJson(ctx.store, node, uri.authorityPrefix);
};

export const move: Handler = async (ctx) => {
  const body = await readJson(ctx.req, ctx.entry);
  const uris = stringList(body.uris, 'Uris');
  checkBatch(ctx, uris.length);
  const dst = myUri(body.dst);
  const sources = uris.map((u) => ({ uri: u, segments: myUri(u).segments }));
  requireUser(ctx);
  ctx.store.move(sources, dst.segments, body.copy === true);
  return undefined;
};

export const remove: Handler = async (ctx) => {
  const body = await readJson(ctx.req, ctx.entry);
  const uris = stringList(body.uris, 'Uris');
  checkBatch(ctx, uris.length);
  if (uris.length > 0 && uris.every((u) => u.startsWith('cloudreve://trash/'))) {
    // The trash navigator can delete (for good): trash_navigator.go capabilities.
    requireUserBatch(ctx, uris);
    ctx.store.purgeTrash(uris.map((u) => parseUri(u).segments.at(-1) ?? ''));
    return undefined;
  }
  const targets = uris.map((u) => ({ uri: u, segments: myUri(u).segments }));
  requireUserBatch(ctx, uris);
  if (body.unlink === true) emuFail(403, 'Advance delete is not allowed for your group');
  ctx.store.delete(targets, body.skip_soft_delete === true);
  return undefined;
};

export const restore: Handler = async (ctx) => {
  const body = await readJson(ctx.req, ctx.entry);
  const uris = stringList(body.uris, 'Uris');
  checkBatch(ctx, uris.length);
  requireUserBatch(ctx, uris);
  ctx.store.restore(uris.map((u) => {
    const p = parseUri(u);
    return p.segments[p.segments.length - 1] ?? '';
  }));
  return undefined;
};

export const emptyTrash: Handler = async (ctx) => {
  requireUser(ctx);
  ctx.store.trash.splice(0);
  return undefined;
};

export const releaseLocks: Handler = async (ctx) => {
  const body = await readJson(ctx.req, ctx.entry);
  const tokens = stringList(body.tokens, 'Tokens');
  requireUser(ctx);
  for (const t of tokens) {
    if (!ctx.store.locks.has(t)) paramError('Invalid lock token');
  }
  for (const t of tokens) ctx.store.locks.delete(t);
  return undefined;
};

/** Categories `manager/metadata.go` knows (validators); users may not write `sys:` ones but two share keys. */
const METADATA_CATEGORIES = new Set(['sys', 'dav', 'customize', 'tag', 'props', 'thumb', 'music', 'exif', 'stream', 'geo', 'apk']);

/** PATCH /file/metadata {uris, patches:[{key, value?, remove?, private?}]} (service/explorer/metadata.go). */
export const patchMetadata: Handler = async (ctx) => {
  const body = await readJson(ctx.req, ctx.entry);
  const uris = stringList(body.uris, 'Uris');
  if (!Array.isArray(body.patches)) paramError('Patches cannot be empty');
  checkBatch(ctx, uris.length);
  requireUserBatch(ctx, uris);
  const patches = (body.patches as unknown[]).map((raw) => {
    const p = raw as { key?: unknown; value?: unknown; remove?: unknown; private?: unknown };
    if (typeof p.key !== 'string' || p.key === '') paramError('Key cannot be empty');
    if (p.private === true) paramError('Private cannot be true');
    const category = (p.key as string).split(':');
    if (category.length < 2 || !METADATA_CATEGORIES.has(category[0]!)) emuFail(40001, 'Invalid metadata key');
    if (category[0] === 'sys') emuFail(40001, 'Invalid metadata patch');
    return { key: p.key as string, value: typeof p.value === 'string' ? p.value : '', remove: p.remove === true };
  });
  const nodes = uris.map((u) => {
    const uri = myUri(u);
    const node = ctx.store.get(uri.segments);
    ctx.store.checkLock('/' + uri.segments.join('/'), false, uri.authorityPrefix);
    return node;
  });
  for (const node of nodes) {
    for (const p of patches) {
      if (p.remove) delete node.metadata[p.key];
      else node.metadata[p.key] = p.value;
    }
  }
  return undefined;
};
