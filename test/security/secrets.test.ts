/**
 * Secrets never reach a log line, an error message or command output. Every CLI command and both
 * frontends run at debug level (--log-level debug, CLOUDMOUNT_LOG_LEVEL=debug, JSON format, -v)
 * against the emulators, with a recording proxy in between that harvests every secret actually in
 * play: the Cloudreve password, the access and refresh tokens it issued (refreshed often: short
 * TTL), the `sign=` MACs of signed content URLs, the Couchdrop static token, login password and
 * login token, and the WebDAV users' passwords. Then the library layers log at debug into a buffer.
 * The test fails if any harvested secret appears anywhere — and also if too few were harvested to
 * make the check meaningful.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudreveVfs, startCloudreveEmulator } from '../../adapters/cloudreve/index.js';
import type { CloudreveEmulator } from '../../adapters/cloudreve/index.js';
import { CouchdropVfs, startCouchdropEmulator } from '../../adapters/couchdrop/index.js';
import type { CouchdropEmulator } from '../../adapters/couchdrop/index.js';
import { serveWebdav } from '../../mount/webdav.js';
import { CachedVfs } from '../../src/cache.js';
import { createLogger } from '../../src/log.js';
import { Scheduler } from '../../src/scheduler/index.js';
import { collect, pseudoRandomBytes } from '../helpers.js';
import { runCli, startCli } from '../cli/run-cli.js';
import type { CliResult } from '../cli/run-cli.js';
import { startHostileProxy } from '../hostile/proxy.js';
import type { HostileProxy } from '../hostile/proxy.js';

const CR_PASSWORD = 'Cr-Pa55word-SECRET-7f3a';
const CD_TOKEN = 'cd-static-token-SECRET-91b2c4d6';
const CD_USER = 'loginuser';
const CD_PASSWORD = 'Cd-Login-Pa55-SECRET-e8d1';
const DAV_PASSWORD = 'Dav-User-Pa55-SECRET-44aa';
const CFG_PASSWORD = 'Cfg-Added-Pa55-SECRET-0c0c';
const CFG_TOKEN = 'cfg-added-token-SECRET-5d5d5d';
const WRONG_PASSWORD = 'Wrong-Pa55-SECRET-dead';
const URL_PASSWORD = 'Url-Userinfo-Pa55-SECRET-77';

const fuseReason = !existsSync('/dev/fuse') ? '/dev/fuse is missing' : !hasFusermount() ? 'fusermount is not installed' : undefined;
if (fuseReason) console.warn(`[secrets test] the mount part is skipped: ${fuseReason}`);

function hasFusermount(): boolean {
  try {
    execFileSync('fusermount', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Every secret value seen on the wire through `proxy` (tokens, signatures), plus the known ones. */
function harvest(proxies: HostileProxy[]): { all: Set<string>; kinds: Record<string, number> } {
  const all = new Set<string>([CR_PASSWORD, CD_TOKEN, CD_PASSWORD, DAV_PASSWORD, CFG_PASSWORD, CFG_TOKEN, WRONG_PASSWORD, URL_PASSWORD]);
  const kinds: Record<string, number> = {};
  const add = (kind: string, value: string | undefined) => {
    if (!value || value.length < 8) return;
    if (!all.has(value)) kinds[kind] = (kinds[kind] ?? 0) + 1;
    all.add(value);
  };
  for (const proxy of proxies) {
    for (const x of proxy.exchanges) {
      const bearer = /^Bearer\s+(\S+)/.exec(String(x.requestHeaders.authorization ?? ''));
      add('bearer', bearer?.[1]);
      add('token header', typeof x.requestHeaders.token === 'string' ? x.requestHeaders.token : undefined);
      for (const m of x.responseBody.matchAll(/"(access_token|refresh_token|token)"\s*:\s*"([^"]+)"/g)) add(m[1]!, m[2]);
      for (const m of (x.responseBody + ' ' + x.url).matchAll(/sign=([A-Za-z0-9_\-+/=%]+)/g)) add('sign', decodeURIComponent(m[1]!));
      for (const m of x.requestBody.matchAll(/"(refresh_token|password)"\s*:\s*"([^"]+)"/g)) add(m[1]!, m[2]);
    }
  }
  return { all, kinds };
}

/** Places where a secret turned up: "<where>: …context…". */
function leaks(texts: Array<[string, string]>, secrets: Set<string>): string[] {
  const found: string[] = [];
  for (const [where, text] of texts) {
    for (const s of secrets) {
      const at = text.indexOf(s);
      if (at >= 0) found.push(`${where}: …${text.slice(Math.max(0, at - 60), at + s.length + 20).replace(/\s+/g, ' ')}…`);
    }
  }
  return found;
}

describe('secrets stay out of logs, errors and output', () => {
  let work: string;
  let cr: CloudreveEmulator;
  let cd: CouchdropEmulator;
  let crProxy: HostileProxy;
  let cdProxy: HostileProxy;
  let env: NodeJS.ProcessEnv;
  const outputs: Array<[string, string]> = [];

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'cloudmount-secrets-'));
    crProxy = await startHostileProxy();
    cdProxy = await startHostileProxy();
    cr = await startCloudreveEmulator({
      password: CR_PASSWORD, seed: { docs: { 'a.txt': 'hello cloudreve' } }, siteUrl: crProxy.url,
      // Short-lived access tokens: refreshes happen during the long-running commands.
      accessTtlMs: 3000,
      // Some retries (their log lines name requests).
      faults: { rate: 0.05, seed: 5, kinds: ['proxy502', 'code50001'] },
    });
    crProxy.target = cr.url;
    cd = await startCouchdropEmulator({
      token: CD_TOKEN, username: CD_USER, password: CD_PASSWORD, seed: { docs: { 'a.txt': 'hello couchdrop' } },
      faults: [{ kind: 503, probability: 0.05 }],
    });
    cdProxy.target = cd.url;
    await writeFile(join(work, 'local.bin'), pseudoRandomBytes(300 * 1024, 3));
    env = {
      XDG_CONFIG_HOME: join(work, 'cfg'),
      CLOUDREVE_URL: crProxy.url, CLOUDREVE_EMAIL: cr.email, CLOUDREVE_PASSWORD: CR_PASSWORD,
      COUCHDROP_TOKEN: CD_TOKEN, COUCHDROP_FILEIO_URL: cdProxy.url, COUCHDROP_API_URL: cdProxy.url,
    };
    // A Couchdrop remote that logs in with a password (tokens from /authenticate).
    const added = await runCli(['config', 'add', 'cdlogin', '--type', 'couchdrop', '--username', CD_USER, '--password', CD_PASSWORD,
      '--fileio-url', cdProxy.url, '--api-url', cdProxy.url, '--log-level', 'debug'], { env });
    expect(added.code, added.stderr).toBe(0);
    outputs.push(['config add cdlogin', added.stdout + added.stderr]);
  }, 60_000);

  afterAll(async () => {
    await crProxy?.close();
    await cdProxy?.close();
    await cr?.close();
    await cd?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const record = (what: string, r: CliResult) => outputs.push([what, `${r.stdout}\n${r.stderr}`]);

  it('every file command, at every debug setting, on every remote', async () => {
    const variants: Array<{ name: string; args: string[]; env: NodeJS.ProcessEnv }> = [
      { name: '--log-level debug', args: ['--log-level', 'debug'], env: {} },
      { name: 'CLOUDMOUNT_LOG_LEVEL=debug', args: [], env: { CLOUDMOUNT_LOG_LEVEL: 'debug' } },
      { name: 'json', args: ['--log-level', 'debug', '--log-format', 'json'], env: {} },
      { name: '-v', args: ['-v'], env: {} },
    ];
    const remotes = ['cloudreve', 'couchdrop', 'cdlogin'];
    const local = join(work, 'local.bin');
    const full = (r: string, n: number) => [
      ['ls', `${r}:/`], ['ls', '-l', `${r}:/docs`], ['stat', `${r}:/docs/a.txt`], ['cat', `${r}:/docs/a.txt`],
      ['cat', '--offset', '1', '--length', '3', `${r}:/docs/a.txt`], ['mkdir', '-p', `${r}:/t${n}/deep`],
      ['cp', '-q', local, `${r}:/t${n}/deep/up.bin`], ['cp', '-q', `${r}:/t${n}/deep/up.bin`, join(work, `${r}-${n}-down.bin`)],
      ['mv', `${r}:/t${n}/deep/up.bin`, `${r}:/t${n}/moved.bin`], ['rm', '-r', `${r}:/t${n}`], ['df', `${r}:`],
      // Failures: their one-line errors are output too.
      ['cat', `${r}:/no/such/file.txt`], ['rm', `${r}:/docs`],
    ];
    const short = (r: string, n: number) => [['cp', '-q', local, `${r}:/s${n}.bin`], ['cat', `${r}:/missing-${n}`]];
    let ok = 0;
    for (const [vi, v] of variants.entries()) {
      // Remotes in parallel (their paths differ); commands of one remote in order.
      await Promise.all(remotes.map(async (r) => {
        for (const args of vi === 0 ? full(r, vi) : short(r, vi)) {
          const res = await runCli([...v.args, ...args], { env: { ...env, ...v.env } });
          record(`${v.name}: ${args.join(' ')}`, res);
          if (res.code === 0) ok++;
        }
      }));
    }
    // Wrong credentials: the refusal must not echo them.
    for (const [what, extra] of [
      ['wrong cloudreve password', { CLOUDREVE_PASSWORD: WRONG_PASSWORD }],
      ['wrong couchdrop token', { COUCHDROP_TOKEN: WRONG_PASSWORD }],
    ] as const) {
      const res = await runCli(['--log-level', 'debug', 'ls', what.includes('cloudreve') ? 'cloudreve:/' : 'couchdrop:/'], { env: { ...env, ...extra } });
      expect(res.code, what).not.toBe(0);
      record(what, res);
    }
    // The debug runs did produce debug output, and most commands succeeded (the rest failed on purpose).
    expect(outputs.some(([, text]) => /DEBUG/.test(text))).toBe(true);
    expect(outputs.some(([, text]) => /"level":"debug"/.test(text))).toBe(true);
    expect(ok).toBeGreaterThan(30);
  }, 240_000);

  it('config add and list never print the secrets they store', async () => {
    for (const args of [
      ['config', 'add', 'crcfg', '--type', 'cloudreve', '--url', crProxy.url, '--email', cr.email, '--password', CFG_PASSWORD],
      ['config', 'add', 'cdcfg', '--type', 'couchdrop', '--token', CFG_TOKEN, '--fileio-url', cdProxy.url, '--api-url', cdProxy.url],
      ['config', 'list'], ['config', 'list', '--json'], ['-v', 'config', 'list'],
      ['config', 'add', 'crcfg', '--type', 'cloudreve', '--url', crProxy.url, '--password', CFG_PASSWORD], // exists: an error
      // A password written into the URL (regression: it was printed by config list and echoed in fetch's error).
      ['config', 'add', 'urlcred', '--type', 'cloudreve', '--url', crProxy.url.replace('http://', `http://someone:${URL_PASSWORD}@`), '--email', cr.email, '--password', CFG_PASSWORD],
      ['config', 'list'], ['config', 'list', '--json'], ['ls', 'urlcred:/'],
    ]) {
      const res = await runCli(['--log-level', 'debug', ...args], { env });
      record(args.join(' '), res);
    }
    const listed = outputs.filter(([w]) => w === 'config list --json').at(-1)![1];
    expect(listed).toContain('urlcred');
    expect(listed).toContain('crcfg');
    expect(listed).toContain('cdcfg');
    // The stored file holds them (that is its job) with owner-only permissions.
    const file = await readFile(join(work, 'cfg', 'cloudmount', 'config.json'), 'utf8');
    expect(file).toContain(CFG_PASSWORD);
  });

  it('serve webdav at debug level, with good and bad credentials and token refreshes', async () => {
    const server = await startCli(['--log-level', 'debug', 'serve', 'webdav', 'cloudreve:/', '--addr', '127.0.0.1:0', '--user', `alice:${DAV_PASSWORD}`],
      /WebDAV at (http:\/\/\S+)/, env);
    try {
      const url = server.match[1]!;
      const good = { Authorization: 'Basic ' + Buffer.from(`alice:${DAV_PASSWORD}`).toString('base64') };
      const bad = { Authorization: 'Basic ' + Buffer.from(`alice:${WRONG_PASSWORD}`).toString('base64') };
      for (let round = 0; round < 3; round++) {
        expect((await fetch(url + 'docs/', { method: 'PROPFIND', headers: { ...good, Depth: '1' } })).status).toBe(207);
        expect(await (await fetch(url + 'docs/a.txt', { headers: good })).text()).toBe('hello cloudreve');
        expect((await fetch(url + `docs/put-${round}.txt`, { method: 'PUT', headers: good, body: 'x'.repeat(1000) })).status).toBeLessThan(300);
        expect((await fetch(url + 'docs/a.txt', { headers: bad })).status).toBe(401);
        expect((await fetch(url + 'docs/nope.txt', { headers: good })).status).toBe(404);
        // Outlive the 3 s access token once.
        if (round === 1) await new Promise((r) => setTimeout(r, 3500));
      }
    } finally {
      await server.stop();
      outputs.push(['serve webdav', server.output()]);
    }
    expect(server.output()).toMatch(/DEBUG/);
  }, 60_000);

  it.skipIf(fuseReason !== undefined)('mount at debug level: list, read, write through the kernel', async () => {
    const dir = join(work, 'mnt');
    await mkdir(dir, { recursive: true });
    const mount = await startCli(['--log-level', 'debug', 'mount', 'cloudreve:/', dir, '--spool-dir', join(work, 'spool')], /mounted /, env);
    try {
      expect(await readdir(join(dir, 'docs'))).toContain('a.txt');
      expect(await readFile(join(dir, 'docs', 'a.txt'), 'utf8')).toBe('hello cloudreve');
      await writeFile(join(dir, 'docs', 'via-fuse.txt'), 'written through the mount');
      expect(await readFile(join(dir, 'docs', 'via-fuse.txt'), 'utf8')).toBe('written through the mount');
    } finally {
      await mount.stop();
      outputs.push(['mount', mount.output()]);
      try {
        execFileSync('fusermount', ['-u', '-z', dir], { stdio: 'ignore' });
      } catch {
        // already unmounted
      }
    }
  }, 90_000);

  it('demo at debug level', async () => {
    const demo = await startCli(['--log-level', 'debug', 'demo', '--addr', '127.0.0.1:0'], /WebDAV share\s+(http:\/\/\S+)/, env);
    try {
      const res = await fetch(demo.match[1]!);
      expect(res.status).toBeLessThan(500);
      await res.arrayBuffer();
    } finally {
      await demo.stop();
    }
    // demo prints its emulator's password on purpose (for the user to copy): everything else counts.
    outputs.push(['demo', demo.output().split('\n').filter((l) => !l.includes('CLOUDREVE_PASSWORD=')).join('\n')]);
  }, 60_000);

  it('pending list and an emulate-backed flow at debug level', async () => {
    const pending = await runCli(['--log-level', 'debug', 'pending', 'list', '--spool-dir', join(work, 'spool')], { env });
    record('pending list', pending);
    const emu = await startCli(['--log-level', 'debug', 'emulate', 'cloudreve', '--port', '0'], /CLOUDREVE_URL=(\S+) CLOUDREVE_EMAIL=(\S+) CLOUDREVE_PASSWORD=(\S+)/);
    const emuProxy = await startHostileProxy(emu.match[1]!);
    try {
      const emuEnv = { ...env, CLOUDREVE_URL: emuProxy.url, CLOUDREVE_EMAIL: emu.match[2]!, CLOUDREVE_PASSWORD: emu.match[3]! };
      for (const args of [['ls', 'cloudreve:/'], ['cat', 'cloudreve:/hello.txt'], ['cp', '-q', join(work, 'local.bin'), 'cloudreve:/up.bin']]) {
        const res = await runCli(['--log-level', 'debug', ...args], { env: emuEnv });
        expect(res.code, res.stderr).toBe(0);
        record(`emulate-backed ${args.join(' ')}`, res);
      }
      const secrets = harvest([emuProxy]).all;
      secrets.delete(emu.match[3]!); // emulate prints its own password on purpose (that is its use)
      await emu.stop();
      // Everything the emulator printed after its "use it" line: no token or signature it issued.
      const printed = emu.output().split('\n').filter((l) => !l.includes('CLOUDREVE_PASSWORD=')).join('\n');
      expect(leaks([['emulate', printed], ...outputs.filter(([w]) => w.startsWith('emulate-backed'))], secrets)).toEqual([]);
    } finally {
      await emu.stop();
      await emuProxy.close();
    }
  }, 60_000);

  it('the library layers at debug level: adapters, scheduler, cache, webdav', async () => {
    const lines: string[] = [];
    const errors: string[] = [];
    for (const format of ['text', 'json'] as const) {
      const logger = createLogger({ level: 'debug', format, write: (l) => lines.push(l) });
      const crVfs = new CloudreveVfs({ baseUrl: crProxy.url, email: cr.email, password: CR_PASSWORD, logger, schedulerOptions: { baseDelayMs: 5, maxDelayMs: 50 } });
      const cdVfs = new CouchdropVfs({ username: CD_USER, password: CD_PASSWORD, apiUrl: cdProxy.url, fileioUrl: cdProxy.url, logger, scheduler: new Scheduler({ name: 'couchdrop', logger, baseDelayMs: 5, maxDelayMs: 50 }) });
      for (const vfs of [crVfs, cdVfs]) {
        const cached = new CachedVfs(vfs);
        const server = await serveWebdav(cached, { users: { bob: DAV_PASSWORD }, logger, cache: false });
        try {
          const auth = { Authorization: 'Basic ' + Buffer.from(`bob:${DAV_PASSWORD}`).toString('base64') };
          expect((await fetch(server.url + 'docs/', { method: 'PROPFIND', headers: { ...auth, Depth: '1' } })).status).toBe(207);
          expect((await fetch(server.url + 'docs/a.txt', { headers: auth })).status).toBe(200);
          expect((await fetch(server.url + `docs/lib-${format}.txt`, { method: 'PUT', headers: auth, body: 'library' })).status).toBeLessThan(300);
          expect((await fetch(server.url + 'docs/a.txt', { headers: { Authorization: 'Basic ' + Buffer.from(`bob:${WRONG_PASSWORD}`).toString('base64') } })).status).toBe(401);
          await collect(await cached.read(`/docs/lib-${format}.txt`));
          await cached.rename(`/docs/lib-${format}.txt`, `/docs/lib-${format}-moved.txt`);
          // One at a time, each with its handler from the start (a rejection left waiting is unhandled).
          for (const failing of [() => cached.read('/nope/x'), () => cached.stat('/nope'), () => cached.mkdir('/docs'), () => cached.remove('/docs')]) {
            await failing().then(() => undefined, (e: Error) => errors.push(`${e.message} ${JSON.stringify((e as { details?: unknown }).details)} ${String((e as { cause?: unknown }).cause)}`));
          }
        } finally {
          await server.close();
          await vfs.close?.();
        }
      }
      // A wrong password: the refusal names neither it nor the right one.
      const wrong = new CloudreveVfs({ baseUrl: crProxy.url, email: cr.email, password: WRONG_PASSWORD, logger });
      await wrong.list('/').then(() => errors.push('wrong password listed /'), (e: Error) => errors.push(`${e.message} ${JSON.stringify((e as { details?: unknown }).details)}`));
      const wrongCd = new CouchdropVfs({ username: CD_USER, password: WRONG_PASSWORD, apiUrl: cdProxy.url, fileioUrl: cdProxy.url, logger });
      await wrongCd.list('/').then(() => errors.push('wrong password listed /'), (e: Error) => errors.push(`${e.message} ${JSON.stringify((e as { details?: unknown }).details)}`));
    }
    expect(lines.length).toBeGreaterThan(20);
    expect(lines.some((l) => l.includes('DEBUG') || l.includes('"level":"debug"'))).toBe(true);
    outputs.push(['library logs', lines.join('\n')], ['library errors', errors.join('\n')]);
  }, 60_000);

  it('no harvested secret appears in any output, log line or error', () => {
    const { all, kinds } = harvest([crProxy, cdProxy]);
    // The check means something only if real secrets were in play.
    expect(kinds.access_token ?? 0, JSON.stringify(kinds)).toBeGreaterThan(3);
    expect(kinds.refresh_token ?? 0, JSON.stringify(kinds)).toBeGreaterThan(3);
    expect(kinds.sign ?? 0, JSON.stringify(kinds)).toBeGreaterThan(3);
    expect(kinds.token ?? 0, JSON.stringify(kinds)).toBeGreaterThan(0); // Couchdrop login tokens
    expect(outputs.length).toBeGreaterThan(50);
    expect(leaks(outputs, all)).toEqual([]);
    // Secrets of processes we could not watch on the wire (demo's own emulator): by their shape.
    const shaped = outputs.flatMap(([where, text]) =>
      [...text.matchAll(/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}|sign=(?!\[redacted)[^\s&"']+|Bearer (?!\[redacted)\S+/g)].map((m) => `${where}: ${m[0]}`));
    expect(shaped).toEqual([]);
  });
});
