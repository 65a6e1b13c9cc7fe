/** What every emulated route handler gets, and the checks they share (login, URIs, batch size). */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EmuAuth } from '../auth.js';
import type { UrlSigner } from '../content.js';
import { EmuError, emuFail, paramError } from '../errors.js';
import type { RequestLogEntry } from '../http.js';
import type { DriveStore } from '../store.js';
import type { ChangeFeed } from '../feed.js';
import type { PolicyTable } from '../storage/policies.js';
import type { EmulatedStorage } from '../storage/server.js';
import { parseUri } from '../uri.js';
import type { ParsedUri } from '../uri.js';

/** Knobs the routes read (resolved emulator options). */
export interface RouteSettings {
  defaultPageSize: number;
  maxPageSize: number;
  chunkSize: number;
  sessionTtlMs: number;
  urlTtlMs: number;
  /** Added to the `expires` the URL route reports (a server clock that is off; default 0). */
  urlExpiresSkewMs: number;
  maxEditSize: number;
  maxBatch: number;
  cursorPagination: boolean;
  /** The admin "site URL" content URLs are built on. */
  siteUrl: () => string;
  /** Storage policy type of the root folder ('local' unless a test wants a direct-to-storage one). */
  policyType: string;
  /** Storage policies and the folders assigned to each (storage/policies.ts). */
  policies: PolicyTable;
  /** The emulated storage providers behind the policies (storage/server.ts). */
  storage: EmulatedStorage;
  /** Group download speed limit baked into content URLs, bytes/s (0 = unlimited). */
  downloadSpeed: number;
  /** Sends each content body: applies the URL's speed limit, and lets fault injection cut it short. */
  onContentBody?: (res: ServerResponse, body: Buffer, bytesPerSecond: number) => void;
}

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  entry: RequestLogEntry;
  url: URL;
  params: string[];
  store: DriveStore;
  auth: EmuAuth;
  signer: UrlSigner;
  settings: RouteSettings;
  /** The change feed (GET /file/events). */
  feed: ChangeFeed;
}

/** Returned by handlers that wrote the response themselves. */
export const HANDLED = Symbol('handled');
export type Handler = (ctx: RouteContext) => Promise<unknown>;

export interface Route {
  method: string;
  pattern: RegExp;
  /** Template for the request log. */
  name: string;
  handler: Handler;
}

export const route = (method: string, pattern: RegExp, name: string, handler: Handler): Route => ({ method, pattern, name, handler });


/** 401 for anonymous callers (LoginRequired and the `my` navigator). */
export function requireUser(ctx: RouteContext): void {
  if (ctx.auth.caller(header(ctx.req, 'authorization')).kind !== 'user') emuFail(401, 'Login required');
}

/** Batch routes wrap the 401 into a 40081 aggregate, one entry per URI. */
export function requireUserBatch(ctx: RouteContext, uris: string[]): void {
  if (ctx.auth.caller(header(ctx.req, 'authorization')).kind === 'user') return;
  const agg: Record<string, { code: number; msg: string; correlation_id: string }> = {};
  for (const u of uris) agg[u] = { code: 401, msg: 'Login required', correlation_id: randomUUID() };
  throw new EmuError(40081, 'Batch operation not fully completed', undefined, agg);
}

export function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** A `my` URI (other filesystems are out of this emulator's scope → 403 for writes). */
export function myUri(raw: unknown): ParsedUri {
  const u = parseUri(raw);
  if (u.fs !== 'my') emuFail(403, 'Operation not supported on this filesystem');
  return u;
}

export function stringList(v: unknown, field: string): string[] {
  if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'string')) paramError(`${field} cannot be empty`);
  return v as string[];
}

export function checkBatch(ctx: RouteContext, n: number): void {
  if (n > ctx.settings.maxBatch) emuFail(40074, `Maximum number of URIs exceeded (${ctx.settings.maxBatch})`);
}
