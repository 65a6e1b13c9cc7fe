#!/usr/bin/env node
// PROPFIND Depth 1 of a folder of 20 000 entries: cloudmount's WebDAV share over MemoryVfs (its own
// process, seeded with only that folder) against `rclone serve webdav` of 20 000 local files.
// Time to the whole answer (median of rounds), time to its first byte, and each server's peak RSS
// (VmHWM). Target: time ≤ 1.0× rclone. Prints figures, asserts nothing.
//   npm run build && node bench/webdav/propfind-wide.mjs [--entries 20000] [--rounds 5] [--json]
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { emit, judge, num, skipped } from '../lib/figures.mjs';
import { median } from '../lib/stats.mjs';
import { missingTools } from '../lib/tools.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({ strict: process.argv[2] !== '--serve', allowPositionals: true, options: { entries: { type: 'string', default: '20000' }, rounds: { type: 'string' }, json: { type: 'boolean', default: false }, quick: { type: 'boolean', default: false } } });
const N = Number(args.entries);
const ROUNDS = Number(args.rounds ?? (args.quick ? 2 : 5));
const figure = `PROPFIND Depth 1 of ${N} entries`;

if (process.argv[2] === '--serve') {
  // Child: serve a MemoryVfs holding only /list.
  const dist = join(here, '../../dist');
  const { serveWebdav } = await import(join(dist, 'mount/webdav.js'));
  const { MemoryVfs } = await import(join(dist, 'adapters/memory/index.js'));
  const vfs = new MemoryVfs();
  await vfs.mkdir('/list');
  const small = Buffer.from('x'.repeat(100));
  for (let i = 0; i < Number(process.argv[3]); i++) await vfs.write(`/list/file-${String(i).padStart(5, '0')}.txt`, small);
  const server = await serveWebdav(vfs, { cache: false });
  process.stdout.write(server.url + '\n');
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close().finally(() => process.exit(0)));
} else {
  const missing = missingTools(['rclone']);
  if (missing.length) {
    emit('propfind', [skipped(figure, '≤ 1.0× rclone', `missing: ${missing.join(', ')}`)], { json: args.json });
    process.exit(0);
  }
  const work = await mkdtemp(join(tmpdir(), 'cloudmount-bench-propfind-'));
  const children = [];
  try {
    await mkdir(join(work, 'list'));
    const small = 'x'.repeat(100);
    for (let i = 0; i < N; i++) await writeFile(join(work, 'list', `file-${String(i).padStart(5, '0')}.txt`), small);
    const ours = spawn(process.execPath, [fileURLToPath(import.meta.url), '--serve', String(N)], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(ours);
    const oursUrl = await firstLine(ours);
    const port = 20000 + (process.pid % 20000);
    const rclone = spawn('rclone', ['serve', 'webdav', work, '--addr', `127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(rclone);
    const rcloneUrl = `http://127.0.0.1:${port}/`;
    await waitUp(rcloneUrl);
    const t = { ours: [], rclone: [] };
    const ttfb = { ours: [], rclone: [] };
    for (let r = 0; r < ROUNDS; r++) {
      for (const [side, url] of [['ours', oursUrl], ['rclone', rcloneUrl]]) {
        const m = await propfind(url + 'list/');
        if (m.responses < N) throw new Error(`${side}: ${m.responses} responses`);
        t[side].push(m.ms);
        ttfb[side].push(m.firstMs);
      }
    }
    const rss = { ours: await hwm(ours.pid), rclone: await hwm(rclone.pid) };
    const a = median(t.ours);
    const b = median(t.rclone);
    emit('propfind', [{
      figure, cloudmount: `${num(a)} ms`, alternative: `${num(b)} ms (rclone serve webdav)`, ratio: a / b, target: '≤ 1.0×', met: judge(a / b, '<=', 1.0),
      note: `first byte ${num(median(ttfb.ours))} ms vs ${num(median(ttfb.rclone))} ms; peak RSS ${num(rss.ours)} MiB vs ${num(rss.rclone)} MiB (server processes, VmHWM)`,
    }], { json: args.json });
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await rm(work, { recursive: true, force: true }).catch(() => undefined);
  }
}

function firstLine(child) {
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      const i = buf.indexOf('\n');
      if (i >= 0) resolve(buf.slice(0, i).trim());
    });
    child.once('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
}

async function waitUp(url) {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise((r) => http.get(url, (res) => { res.resume(); r(true); }).on('error', () => r(false)));
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not come up`);
}

function propfind(url) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let firstMs;
    let responses = 0;
    let tail = '';
    const req = http.request(url, { method: 'PROPFIND', headers: { Depth: '1', 'Content-Length': '0' } }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (s) => {
        firstMs ??= performance.now() - t0;
        const text = tail + s;
        responses += (text.match(/<(D|d):response>/g) ?? []).length;
        tail = text.slice(-16);
        if (tail.includes('response>')) tail = tail.slice(tail.lastIndexOf('response>') + 9);
      });
      res.on('end', () => resolve({ ms: performance.now() - t0, firstMs, responses }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function hwm(pid) {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const m = /VmHWM:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) / 1024 : NaN;
}
