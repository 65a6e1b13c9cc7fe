/** Share links: PUT /share, GET /share, DELETE /share/{id} (service/share/manage.go, visit.go). */
import { randomBytes } from 'node:crypto';
import { emuFail, paramError } from '../errors.js';
import { readJson } from '../http.js';
import { myUri, requireUser } from './context.js';
import type { Handler } from './context.js';

const linkOf = (site: string, id: string, password: string) => `${site}/s/${id}${password ? `/${password}` : ''}`;

export const createShare: Handler = async (ctx) => {
  const body = await readJson(ctx.req, ctx.entry);
  const uri = myUri(body.uri);
  const password = typeof body.password === 'string' ? body.password : '';
  // binding:"omitempty,max=32,alphanum"
  if (password !== '' && !/^[A-Za-z0-9]{1,32}$/.test(password)) paramError("Key: 'ShareCreateService.Password' Error:Field validation for 'Password' failed on the 'alphanum' tag");
  requireUser(ctx);
  const node = ctx.store.find(uri.segments);
  if (!node || uri.segments.length === 0) emuFail(404, 'src file not found');
  // manager/operation.go CreateOrUpdateShare: a private share without a password gets 8 random lower-case letters.
  const secret = body.is_private === true ? password || randomLower(8) : '';
  const id = randomBytes(4).toString('hex');
  const expire = typeof body.expire === 'number' && body.expire > 0 ? Date.now() + body.expire * 1000 : undefined;
  ctx.store.shares.set(id, {
    id, node: node!, password: secret, downloads: typeof body.downloads === 'number' ? body.downloads : 0, visited: 0, createdAt: new Date(),
    ...(expire ? { expiresAt: expire } : {}),
  });
  return linkOf(ctx.settings.siteUrl(), id, secret);
};

export const listShares: Handler = async (ctx) => {
  const size = Number(ctx.url.searchParams.get('page_size'));
  // binding:"required,min=10,max=100"
  if (!Number.isInteger(size) || size < 10 || size > 100) paramError("Key: 'ListShareService.PageSize' Error:Field validation for 'PageSize' failed");
  requireUser(ctx);
  const all = [...ctx.store.shares.values()];
  const from = Number(ctx.url.searchParams.get('next_page_token') || '0') || 0;
  const page = all.slice(from, from + size);
  return {
    shares: page.map((s) => ({
      id: s.id, name: s.node.name, visited: s.visited, created_at: s.createdAt.toISOString(),
      expired: (s.expiresAt !== undefined && s.expiresAt < Date.now()) || !s.node.parent,
      url: linkOf(ctx.settings.siteUrl(), s.id, s.password),
      ...(s.downloads > 0 ? { remain_downloads: s.downloads } : {}),
      ...(s.expiresAt ? { expires: new Date(s.expiresAt).toISOString() } : {}),
      ...(s.password ? { password_protected: true, is_private: true, password: s.password } : {}),
      ...(s.node.parent ? { source_uri: ctx.store.uriOf(s.node) } : {}),
      owner: { id: 'lUpa', nickname: 'user' },
      size: s.node.entity?.data.length ?? 0,
      unlocked: true,
    })),
    pagination: { page: 0, page_size: size, is_cursor: true, ...(from + size < all.length ? { next_token: String(from + size) } : {}) },
  };
};

export const deleteShare: Handler = async (ctx) => {
  const [id] = ctx.params as [string];
  requireUser(ctx);
  if (!ctx.store.shares.delete(decodeURIComponent(id))) emuFail(404, 'Share not found');
  return undefined;
};

function randomLower(n: number): string {
  const bytes = randomBytes(n);
  return Array.from(bytes, (b) => String.fromCharCode(97 + (b % 26))).join('');
}
