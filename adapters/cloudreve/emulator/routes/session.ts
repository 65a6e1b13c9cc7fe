/** Session and site routes: login (with 2FA), refresh, logout, capacity, the current user, ping and site config. */
import { USER_HASH_ID } from '../auth.js';
import { EmuError, emuFail } from '../errors.js';
import { readJson } from '../http.js';
import { requireUser } from './context.js';
import type { Handler, RouteContext } from './context.js';

export const login: Handler = async (ctx) => {
  const body = await readJson(ctx.req, ctx.entry);
  const result = ctx.auth.login(body.email, body.password);
  if ('twoFactor' in result) throw new EmuError(203, '', result.twoFactor, undefined, true);
  return { user: userJson(ctx), token: result.pair };
};

export const login2fa: Handler = async (ctx) => {
  const body = await readJson(ctx.req, ctx.entry);
  return { user: userJson(ctx), token: ctx.auth.loginTwoFactor(body.otp, body.session_id) };
};

export const refresh: Handler = async (ctx) => {
  const body = await readJson(ctx.req, ctx.entry);
  return ctx.auth.refresh(body.refresh_token);
};

export const logout: Handler = async (ctx) => {
  const body = await readJson(ctx.req, ctx.entry);
  ctx.auth.logout(body.refresh_token);
  return '';
};

function userJson(ctx: RouteContext): Record<string, unknown> {
  return {
    id: USER_HASH_ID, email: ctx.auth.options.email, nickname: ctx.auth.options.email.split('@')[0], status: 'active',
    created_at: new Date(0).toISOString(), group: { id: 'vxHj', name: 'User' }, language: 'en-US',
  };
}

export const prepareLogin: Handler = async (ctx) => {
  const email = ctx.url.searchParams.get('email') ?? '';
  if (email.toLowerCase() !== ctx.auth.options.email.toLowerCase()) emuFail(404, 'User not found');
  return { webauthn_enabled: false, password_enabled: true };
};

export const capacity: Handler = async (ctx) => {
  requireUser(ctx);
  return { total: ctx.store.options.quota, used: ctx.store.used() };
};

export const me: Handler = async (ctx) => {
  requireUser(ctx);
  return userJson(ctx);
};

export const ping: Handler = async () => '4.18.0-emulator';

export const siteConfig: Handler = async (ctx) => {
  const section = ctx.params[0];
  if (section === 'login') return {};
  if (section === 'explorer') return { max_batch_size: ctx.settings.maxBatch };
  return { instance_id: 'cloudmount-emulator', title: 'Cloudreve (emulated)', captcha_type: 'normal', user: { id: '', nickname: '', anonymous: true }, themes: '{}' };
};

/** Every route the emulator serves, under /api/v4. */
