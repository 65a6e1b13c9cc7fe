/**
 * The emulated /api/v4 routes. Each handler returns the envelope's `data` (code 0), throws an
 * EmuError (its code), or answers by itself and returns HANDLED (content, redirects).
 */
import { route } from './context.js';
import type { Route } from './context.js';
import { create, emptyTrash, info, list, move, releaseLocks, remove, rename, restore, patchMetadata } from './files.js';
import { capacity, login, login2fa, logout, me, ping, prepareLogin, refresh, siteConfig } from './session.js';
import { events } from './events.js';
import { createShare, deleteShare, listShares } from './shares.js';
import { cancelSession, content, createSession, downloadUrl, putContent, uploadCallback, uploadChunk } from './transfer.js';

export { HANDLED } from './context.js';
export type { Route, RouteContext, RouteSettings } from './context.js';

export const ROUTES: Route[] = [
  route('GET', /^\/site\/ping$/, 'GET /site/ping', ping),
  route('GET', /^\/site\/config\/([^/]+)$/, 'GET /site/config/{section}', siteConfig),
  route('GET', /^\/session\/prepare$/, 'GET /session/prepare', prepareLogin),
  route('POST', /^\/session\/token$/, 'POST /session/token', login),
  route('POST', /^\/session\/token\/2fa$/, 'POST /session/token/2fa', login2fa),
  route('POST', /^\/session\/token\/refresh$/, 'POST /session/token/refresh', refresh),
  route('DELETE', /^\/session\/token$/, 'DELETE /session/token', logout),
  route('GET', /^\/user\/capacity$/, 'GET /user/capacity', capacity),
  route('GET', /^\/user\/me$/, 'GET /user/me', me),
  route('GET', /^\/file$/, 'GET /file', list),
  route('GET', /^\/file\/info$/, 'GET /file/info', info),
  route('POST', /^\/file\/create$/, 'POST /file/create', create),
  route('POST', /^\/file\/rename$/, 'POST /file/rename', rename),
  route('POST', /^\/file\/move$/, 'POST /file/move', move),
  route('DELETE', /^\/file$/, 'DELETE /file', remove),
  route('POST', /^\/file\/restore$/, 'POST /file/restore', restore),
  route('PATCH', /^\/file\/metadata$/, 'PATCH /file/metadata', patchMetadata),
  route('PUT', /^\/share$/, 'PUT /share', createShare),
  route('GET', /^\/share$/, 'GET /share', listShares),
  route('DELETE', /^\/share\/([^/]+)$/, 'DELETE /share/{id}', deleteShare),
  route('DELETE', /^\/file\/trash$/, 'DELETE /file/trash', emptyTrash),
  route('POST', /^\/file\/url$/, 'POST /file/url', downloadUrl),
  route('PUT', /^\/file\/upload$/, 'PUT /file/upload', createSession),
  route('POST', /^\/file\/upload\/([^/]+)\/([^/]+)$/, 'POST /file/upload/{session}/{index}', uploadChunk),
  route('DELETE', /^\/file\/upload$/, 'DELETE /file/upload', cancelSession),
  route('GET', /^\/callback\/(s3|ks3|cos)\/([^/]+)\/([^/]+)$/, 'GET /callback/{type}/{session}/{key}', uploadCallback),
  route('POST', /^\/callback\/(onedrive)\/([^/]+)\/([^/]+)$/, 'POST /callback/onedrive/{session}/{key}', uploadCallback),
  route('PUT', /^\/file\/content$/, 'PUT /file/content', putContent),
  route('GET', /^\/file\/events$/, 'GET /file/events', events),
  route('DELETE', /^\/file\/lock$/, 'DELETE /file/lock', releaseLocks),
  route('GET', /^\/file\/content\/([^/]+)\/([^/]+)\/([^/]+)$/, 'GET /file/content', content),
  route('HEAD', /^\/file\/content\/([^/]+)\/([^/]+)\/([^/]+)$/, 'HEAD /file/content', content),
];
