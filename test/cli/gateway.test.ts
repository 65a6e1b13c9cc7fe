/**
 * `cloudmount serve webdav` as a network gateway, run as a user would (the built CLI against
 * `cloudmount emulate cloudreve`): HTTPS with a self-signed certificate made here by openssl
 * (curl, rclone and the `webdav` client), mutual TLS, a certificate swapped on SIGHUP without
 * dropping the listener or kept-alive connections, one-line errors for bad key material, the
 * clear-text warning, and Prometheus metrics scraped during a workload with no path or user in
 * any label. Needs openssl and curl (rclone optional).
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from 'webdav';
import { hasCommand, run, warnSkip } from '../webdav/helpers.js';
import { runCli, startCli } from './run-cli.js';

const hasOpenssl = hasCommand('openssl', 'version');
const hasCurl = hasCommand('curl', '--version');
const hasRclone = hasCommand('rclone', 'version');
if (!hasOpenssl || !hasCurl) warnSkip('gateway TLS tests', 'openssl and curl are needed (apt-get install openssl curl)');
if (!hasRclone) warnSkip('rclone over https', 'rclone is not installed');

/** A CA, a server certificate for 127.0.0.1 signed by it, and a client certificate. */
function makePki(dir: string, tag: string): void {
  const ossl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  ossl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', `/CN=test-ca-${tag}`, '-keyout', `ca-${tag}.key`, '-out', `ca-${tag}.pem`);
  ossl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', `server-${tag}.key`, '-out', `server-${tag}.csr`);
  writeFileSyncText(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  ossl('x509', '-req', '-in', `server-${tag}.csr`, '-CA', `ca-${tag}.pem`, '-CAkey', `ca-${tag}.key`, '-CAcreateserial', '-days', '2', '-extfile', 'san.ext', '-out', `server-${tag}.pem`);
  ossl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=client', '-keyout', `client-${tag}.key`, '-out', `client-${tag}.csr`);
  ossl('x509', '-req', '-in', `client-${tag}.csr`, '-CA', `ca-${tag}.pem`, '-CAkey', `ca-${tag}.key`, '-CAcreateserial', '-days', '2', '-out', `client-${tag}.pem`);
}

function writeFileSyncText(path: string, text: string): void {
  execFileSync('sh', ['-c', `cat > "$0"`, path], { input: text });
}

/** The certificate a fresh TLS connection is shown (its fingerprint). */
function peerFingerprint(port: number, ca: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca }, () => {
      resolve(socket.getPeerX509Certificate()!.fingerprint256);
      socket.end();
    });
    socket.on('error', reject);
  });
}

describe.skipIf(!hasOpenssl || !hasCurl)('serve webdav as an HTTPS gateway', () => {
  let emu: Awaited<ReturnType<typeof startCli>>;
  let env: NodeJS.ProcessEnv;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cm-gateway-'));
    makePki(dir, 'a');
    makePki(dir, 'b');
    emu = await startCli(['emulate', 'cloudreve', '--port', '0'], /CLOUDREVE_URL=(\S+) CLOUDREVE_EMAIL=(\S+) CLOUDREVE_PASSWORD=(\S+)/);
    env = { CLOUDREVE_URL: emu.match[1], CLOUDREVE_EMAIL: emu.match[2], CLOUDREVE_PASSWORD: emu.match[3], XDG_CONFIG_HOME: join(dir, 'cfg') };
  }, 60_000);
  afterAll(async () => {
    await emu?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('serves HTTPS to curl, rclone and the webdav client; reloads the certificate on SIGHUP', async () => {
    await copyFile(join(dir, 'server-a.pem'), join(dir, 'live.pem'));
    await copyFile(join(dir, 'server-a.key'), join(dir, 'live.key'));
    const served = await startCli(
      ['serve', 'webdav', 'cloudreve:/', '--addr', '127.0.0.1:0', '--user', 'alice:pw-for-alice', '--cert', join(dir, 'live.pem'), '--key', join(dir, 'live.key')],
      /at (https:\/\/\S+)/,
      env,
    );
    try {
      const url = served.match[1]!;
      const port = Number(new URL(url).port);
      const caA = await readFile(join(dir, 'ca-a.pem'));
      const curl = await run('curl', ['-sS', '--fail', '--cacert', join(dir, 'ca-a.pem'), '-u', 'alice:pw-for-alice', url + 'hello.txt']);
      expect(curl.code, curl.stderr).toBe(0);
      expect(curl.stdout.length).toBeGreaterThan(0);
      // Wrong CA: curl refuses the certificate.
      expect((await run('curl', ['-sS', '--cacert', join(dir, 'ca-b.pem'), url])).code).not.toBe(0);

      const agent = new Agent({ ca: caA, keepAlive: true, maxSockets: 1 });
      const client = createClient(url, { username: 'alice', password: 'pw-for-alice', httpsAgent: agent });
      await client.putFileContents('/tls-put.txt', 'over tls');
      expect(await client.getFileContents('/tls-put.txt', { format: 'text' })).toBe('over tls');

      if (hasRclone) {
        const obscured = (await run('rclone', ['obscure', 'pw-for-alice'])).stdout.trim();
        const r = await run('rclone', ['lsf', '--ca-cert', join(dir, 'ca-a.pem'), `:webdav,url='${url}',user=alice,pass='${obscured}':`]);
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toContain('tls-put.txt');
      }

      // A kept-alive connection from before the reload.
      const keptSocket = await new Promise<unknown>((resolve, reject) => {
        const req = request(url + 'hello.txt', { agent, auth: 'alice:pw-for-alice' }, (res) => {
          res.resume();
          res.on('end', () => resolve(req.socket));
        });
        req.on('error', reject);
        req.end();
      });
      const before = await peerFingerprint(port, caA);
      expect(before).toBe(new X509Certificate(await readFile(join(dir, 'server-a.pem'))).fingerprint256);

      // A broken pair on SIGHUP: one warning, the old certificate stays.
      await copyFile(join(dir, 'server-b.key'), join(dir, 'live.key'));
      served.child.kill('SIGHUP');
      await waitFor(() => /TLS certificate not reloaded/.test(served.output()));
      expect(await peerFingerprint(port, caA)).toBe(before);

      await copyFile(join(dir, 'server-b.pem'), join(dir, 'live.pem'));
      served.child.kill('SIGHUP');
      await waitFor(() => /TLS certificate reloaded/.test(served.output()));
      const caB = await readFile(join(dir, 'ca-b.pem'));
      expect(await peerFingerprint(port, caB)).toBe(new X509Certificate(await readFile(join(dir, 'server-b.pem'))).fingerprint256);
      // The listener and the old connection survived the reload.
      const again = await new Promise<{ status: number; socket: unknown }>((resolve, reject) => {
        const req = request(url + 'hello.txt', { agent, auth: 'alice:pw-for-alice' }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, socket: req.socket }));
        });
        req.on('error', reject);
        req.end();
      });
      expect(again.status).toBe(200);
      expect(again.socket).toBe(keptSocket);
      agent.destroy();
      expect(served.child.exitCode).toBeNull();
    } finally {
      await served.stop();
    }
  }, 90_000);

  it('requires a client certificate signed by --client-ca', async () => {
    const served = await startCli(
      ['serve', 'webdav', 'cloudreve:/', '--addr', '127.0.0.1:0', '--cert', join(dir, 'server-a.pem'), '--key', join(dir, 'server-a.key'), '--client-ca', join(dir, 'ca-a.pem')],
      /at (https:\/\/\S+)/,
      env,
    );
    try {
      const url = served.match[1]!;
      const without = await run('curl', ['-sS', '--fail', '--cacert', join(dir, 'ca-a.pem'), url]);
      expect(without.code).not.toBe(0);
      const wrongCa = await run('curl', ['-sS', '--fail', '--cacert', join(dir, 'ca-a.pem'), '--cert', join(dir, 'client-b.pem'), '--key', join(dir, 'client-b.key'), url]);
      expect(wrongCa.code).not.toBe(0);
      const ok = await run('curl', ['-sS', '--fail', '--cacert', join(dir, 'ca-a.pem'), '--cert', join(dir, 'client-a.pem'), '--key', join(dir, 'client-a.key'), url + 'hello.txt']);
      expect(ok.code, ok.stderr).toBe(0);
    } finally {
      await served.stop();
    }
  }, 60_000);

  it('fails to start with one line on missing, unreadable or mismatched key material', async () => {
    await writeFile(join(dir, 'garbage.pem'), 'not a certificate\n');
    const cases: Array<[string[], RegExp]> = [
      [['--cert', join(dir, 'server-a.pem'), '--key', join(dir, 'server-b.key')], /--key .* does not match --cert/],
      [['--cert', join(dir, 'server-a.pem'), '--key', join(dir, 'missing.key')], /cannot read --key .*missing\.key: ENOENT/],
      [['--cert', join(dir, 'garbage.pem'), '--key', join(dir, 'server-a.key')], /not a PEM certificate and private key/],
      [['--cert', join(dir, 'server-a.pem')], /--cert and --key go together/],
    ];
    for (const [flags, message] of cases) {
      const r = await runCli(['serve', 'webdav', 'cloudreve:/', '--addr', '127.0.0.1:0', ...flags], { env, timeoutMs: 30_000 });
      expect(r.code, r.stderr).not.toBe(0);
      const lines = r.stderr.trim().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(message);
      expect(r.stderr).not.toContain('BEGIN');
    }
  }, 90_000);

  it('warns that passwords cross the network in clear on a non-loopback address without TLS', async () => {
    const served = await startCli(['serve', 'webdav', 'cloudreve:/', '--addr', '0.0.0.0:0', '--user', 'alice:pw-for-alice'], /at (http:\/\/\S+)/, env);
    try {
      expect(served.output()).toMatch(/passwords cross the network in clear/);
      expect(served.output()).not.toContain('pw-for-alice');
    } finally {
      await served.stop();
    }
    const tls = await startCli(
      ['serve', 'webdav', 'cloudreve:/', '--addr', '0.0.0.0:0', '--user', 'alice:pw-for-alice', '--cert', join(dir, 'server-a.pem'), '--key', join(dir, 'server-a.key')],
      /at (https:\/\/\S+)/,
      env,
    );
    try {
      expect(tls.output()).not.toMatch(/in clear/);
    } finally {
      await tls.stop();
    }
  }, 60_000);

  it('takes users with roots and read-only from the config file and from --user', async () => {
    const cfgDir = join(dir, 'cfg-users', 'cloudmount');
    await mkdir(cfgDir, { recursive: true });
    await writeFile(join(cfgDir, 'config.json'), JSON.stringify({ remotes: {}, users: [{ name: 'docs', password: 'pw-docs-long', root: '/Documents', readOnly: true }] }));
    await chmod(join(cfgDir, 'config.json'), 0o600);
    const served = await startCli(
      ['serve', 'webdav', 'cloudreve:/', '--addr', '127.0.0.1:0', '--user', 'photos:pw-photos-long:/Photos'],
      /at (http:\/\/\S+)\n/,
      { ...env, XDG_CONFIG_HOME: join(dir, 'cfg-users') },
    );
    try {
      const url = served.match[1]!;
      const docs = createClient(url, { username: 'docs', password: 'pw-docs-long' });
      const photos = createClient(url, { username: 'photos', password: 'pw-photos-long' });
      const docNames = (await docs.getDirectoryContents('/')) as Array<{ basename: string }>;
      const photoNames = (await photos.getDirectoryContents('/')) as Array<{ basename: string }>;
      expect(docNames.map((e) => e.basename)).not.toContain('hello.txt');
      expect(docNames.map((e) => e.basename).sort()).not.toEqual(photoNames.map((e) => e.basename).sort());
      await expect(docs.putFileContents('/new.txt', 'x')).rejects.toThrow(/403/);
      await photos.putFileContents('/new-photo.txt', 'x');
      const all = await runCli(['ls', 'cloudreve:/Photos'], { env });
      expect(all.stdout).toContain('new-photo.txt');
    } finally {
      await served.stop();
    }
  }, 60_000);

  it('serves Prometheus metrics that move with the workload, with no path or user in any label', async () => {
    const served = await startCli(
      ['serve', 'webdav', 'cloudreve:/', '--addr', '127.0.0.1:0', '--user', 'metrics-user-zed:pw-metrics-zed', '--metrics-addr', '127.0.0.1:0'],
      /at (http:\/\/\S+\/)\n/,
      env,
    );
    try {
      const url = served.match[1]!;
      const metricsUrl = /metrics at (\S+)/.exec(served.output())![1]!;
      const client = createClient(url, { username: 'metrics-user-zed', password: 'pw-metrics-zed' });
      const scrape = async () => parse(await (await fetch(metricsUrl)).text());
      const first = await scrape();
      await client.createDirectory('/Secret-Folder-Qx');
      await client.putFileContents('/Secret-Folder-Qx/private-name-Zq.txt', 'x'.repeat(50_000));
      expect(await client.getFileContents('/Secret-Folder-Qx/private-name-Zq.txt', { format: 'text' })).toHaveLength(50_000);
      await client.getDirectoryContents('/Secret-Folder-Qx');
      await fetch(url + 'nope', { headers: { Authorization: 'Basic ' + Buffer.from('metrics-user-zed:wrong-pw').toString('base64') } });
      const second = await scrape();

      const sum = (m: Map<string, number>, name: string, filter: (labels: string) => boolean = () => true) =>
        [...m].filter(([k]) => k.startsWith(name + '{') || k === name).filter(([k]) => filter(k)).reduce((n, [, v]) => n + v, 0);
      expect(sum(second, 'cloudmount_webdav_requests_total')).toBeGreaterThan(sum(first, 'cloudmount_webdav_requests_total'));
      expect(sum(second, 'cloudmount_webdav_requests_total', (k) => k.includes('status="401"'))).toBeGreaterThanOrEqual(1);
      expect(sum(second, 'cloudmount_webdav_request_duration_seconds_count')).toBeGreaterThan(0);
      expect(sum(second, 'cloudmount_provider_requests_total')).toBeGreaterThan(sum(first, 'cloudmount_provider_requests_total'));
      expect(sum(second, 'cloudmount_provider_request_duration_seconds_count')).toBeGreaterThan(0);
      expect(sum(second, 'cloudmount_transfer_bytes', (k) => k.includes('direction="up"'))).toBeGreaterThanOrEqual(50_000);
      expect(sum(second, 'cloudmount_cache_hits') + sum(second, 'cloudmount_cache_misses')).toBeGreaterThan(0);
      for (const name of ['cloudmount_provider_retries_total', 'cloudmount_provider_throttled_total', 'cloudmount_provider_pace_requests_per_second', 'cloudmount_provider_queue_depth', 'cloudmount_process_cpu_seconds_total']) {
        expect([...second.keys()].some((k) => k.startsWith(name)), name).toBe(true);
      }
      // No path, file name, user name or secret anywhere in a label (or anywhere in the page).
      const text = await (await fetch(metricsUrl)).text();
      for (const secret of ['Secret-Folder-Qx', 'private-name-Zq', 'metrics-user-zed', 'pw-metrics-zed', 'wrong-pw', env.CLOUDREVE_PASSWORD!, env.CLOUDREVE_EMAIL!]) {
        expect(text, secret).not.toContain(secret);
      }
      for (const key of second.keys()) {
        const labels = key.includes('{') ? key.slice(key.indexOf('{')) : '';
        for (const [, value] of labels.matchAll(/="([^"]*)"/g)) expect(value, key).not.toMatch(/\.txt|Secret|private|\/[A-Z]/);
      }
    } finally {
      await served.stop();
    }
  }, 90_000);
});

/** Prometheus text format → series (name with labels) → value. */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    out.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return out;
}

async function waitFor(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 300 && !cond(); i++) await new Promise((r) => setTimeout(r, 50));
  expect(cond()).toBe(true);
}
