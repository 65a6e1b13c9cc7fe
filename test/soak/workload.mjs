#!/usr/bin/env node
/**
 * The soak workload, run as a child process (never inside the process serving a FUSE mount): a
 * seeded mix of create, overwrite, append, rename, copy, delete and read, done by FUSE workers
 * (node:fs on the mountpoint) and WebDAV workers (HTTP to the share) at the same time. Each worker
 * owns one folder, so it knows exactly what every file it touched must hold. Every read is checked
 * against that model. The last stdout line is a JSON report: operations, errors, and the sha256 of
 * every file the workers believe they left behind.
 *
 * usage: node workload.mjs '<json config>'
 *   { seed, opsPerWorker, maxSize, mountpoint?, fuseWorkers, davUrl?, davWorkers, root: "/soak" }
 */
import { createHash } from 'node:crypto';
import { mkdir, open, rename, copyFile, unlink, stat } from 'node:fs/promises';
import http from 'node:http';
import { contentChunks, contentSha256, contentSize } from './content.mjs';
// The project's own PRNG (the soak runs only once dist/ is built).
import { seededRandom } from '../../dist/src/seeded-random.js';

const config = JSON.parse(process.argv[2]);
const KiB = 1024;
const MiB = 1024 * KiB;
const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

const counts = { create: 0, overwrite: 0, append: 0, rename: 0, copy: 0, delete: 0, read: 0, rangedRead: 0 };
const errors = [];
const uncertain = new Set();
let bytesWritten = 0;
let bytesRead = 0;
let nextSeed = config.seed * 1000003;

/** A worker: one frontend, one folder, one seeded random source, a model of its files. */
function makeWorker(kind, index) {
  const dir = `${config.root}/${kind}-${index}`;
  const random = seededRandom(config.seed * 7919 + index * 104729 + (kind === 'dav' ? 31 : 0));
  /** provider path → segment list */
  const files = new Map();
  let nameNo = 0;
  const pick = (list) => list[Math.floor(random() * list.length)];
  const newName = () => {
    nameNo++;
    // Some names carry spaces, unicode, '#' and '%' (the contract says names may).
    return nameNo % 4 === 0 ? `${dir}/été #${nameNo} 50%.bin` : `${dir}/f${nameNo}.bin`;
  };
  const size = (max) => {
    const r = random();
    const cap = (n) => Math.min(n, max);
    if (r < 0.08) return 0;
    if (r < 0.4) return Math.floor(random() * cap(4 * KiB));
    if (r < 0.75) return Math.floor(random() * cap(256 * KiB));
    if (r < 0.92) return Math.floor(random() * cap(2 * MiB));
    return Math.floor(random() * max);
  };
  const segment = (length) => ({ seed: ++nextSeed, length });
  const io = kind === 'fuse' ? fuseIo(config.mountpoint) : davIo(config.davUrl);
  return { kind, index, dir, random, files, pick, newName, size, segment, io };
}

/** Run one worker's operations, one at a time. */
async function runWorker(w) {
  await w.io.mkdir(w.dir);
  for (let i = 0; i < config.opsPerWorker; i++) {
    const paths = [...w.files.keys()].filter((p) => !uncertain.has(p));
    const r = w.random();
    let op;
    if (paths.length === 0 || (paths.length < 10 && r < 0.2)) op = 'create';
    else if (r < 0.35) op = 'read';
    else if (r < 0.5) op = 'overwrite';
    else if (r < 0.62) op = 'append';
    else if (r < 0.74) op = 'rename';
    else if (r < 0.86) op = 'copy';
    else if (r < 0.95) op = 'delete';
    else op = paths.length < 14 ? 'create' : 'read';
    const path = op === 'create' ? w.newName() : w.pick(paths);
    let target;
    const t0 = Date.now();
    if (config.verbose) process.stderr.write(`${w.kind}-${w.index} #${i} ${op} ${path}\n`);
    try {
      switch (op) {
        case 'create':
        case 'overwrite': {
          const segments = [w.segment(w.size(config.maxSize))];
          await w.io.put(path, segments, w.files.get(path));
          w.files.set(path, segments);
          bytesWritten += contentSize(segments);
          break;
        }
        case 'append': {
          const added = w.segment(w.size(Math.max(1, Math.floor(config.maxSize / 4))));
          const before = w.files.get(path);
          const after = [...before, added];
          await w.io.append(path, before, added);
          w.files.set(path, after);
          bytesWritten += added.length;
          break;
        }
        case 'rename':
        case 'copy': {
          // Mostly a new name; sometimes onto another existing file (it is replaced).
          const others = paths.filter((p) => p !== path);
          target = others.length && w.random() < 0.3 ? w.pick(others) : w.newName();
          if (op === 'rename') await w.io.rename(path, target);
          else await w.io.copy(path, target);
          w.files.set(target, w.files.get(path));
          if (op === 'rename') w.files.delete(path);
          break;
        }
        case 'delete':
          await w.io.remove(path);
          w.files.delete(path);
          break;
        case 'read': {
          const segments = w.files.get(path);
          const total = contentSize(segments);
          if (total > 0 && w.random() < 0.3) {
            const start = Math.floor(w.random() * total);
            const length = 1 + Math.floor(w.random() * Math.min(total - start, 512 * KiB));
            const got = await w.io.readRange(path, start, length);
            const want = rangeSha(segments, start, length);
            if (got.sha !== want) throw new Error(`ranged read [${start}, +${length}) returned wrong bytes (${got.size} bytes)`);
            bytesRead += got.size;
            counts.rangedRead++;
          } else {
            const got = await w.io.read(path);
            const want = contentSha256(segments);
            if (got.sha !== want) throw new Error(`read returned wrong content (${got.size} bytes, expected ${total})`);
            bytesRead += got.size;
          }
          break;
        }
      }
      counts[op]++;
      if (config.verbose) process.stderr.write(`${w.kind}-${w.index} #${i} ${op} done in ${Date.now() - t0} ms\n`);
    } catch (e) {
      // The model no longer knows what these paths hold; the final check leaves them out.
      errors.push({ worker: `${w.kind}-${w.index}`, op, path, target, message: String(e?.message ?? e).slice(0, 400), code: e?.code });
      uncertain.add(path);
      if (target) uncertain.add(target);
    }
  }
}

/** sha256 of bytes [start, start+length) of a segment list. */
function rangeSha(segments, start, length) {
  const hash = createHash('sha256');
  let at = 0;
  const end = start + length;
  for (const chunk of contentChunks(segments)) {
    const from = Math.max(start, at);
    const to = Math.min(end, at + chunk.length);
    if (to > from) hash.update(chunk.subarray(from - at, to - at));
    at += chunk.length;
    if (at >= end) break;
  }
  return hash.digest('hex');
}

/** File operations through the FUSE mount: node:fs, close() reports the upload's outcome. */
function fuseIo(mountpoint) {
  const local = (p) => mountpoint + p;
  const writeAll = async (fh, chunks, position) => {
    let at = position;
    for (const chunk of chunks) {
      let done = 0;
      while (done < chunk.length) {
        const { bytesWritten: n } = await fh.write(chunk, done, chunk.length - done, at === undefined ? null : at + done);
        done += n;
      }
      if (at !== undefined) at += chunk.length;
    }
  };
  return {
    mkdir: (p) => mkdir(local(p), { recursive: true }),
    async put(p, segments) {
      const fh = await open(local(p), 'w');
      try {
        await writeAll(fh, contentChunks(segments));
      } finally {
        await fh.close();
      }
      const s = await stat(local(p));
      if (s.size !== contentSize(segments)) throw new Error(`size after write is ${s.size}, expected ${contentSize(segments)}`);
    },
    async append(p, _before, added) {
      const fh = await open(local(p), 'a');
      try {
        await writeAll(fh, contentChunks([added]));
      } finally {
        await fh.close();
      }
    },
    rename: (a, b) => rename(local(a), local(b)),
    copy: (a, b) => copyFile(local(a), local(b)),
    remove: (p) => unlink(local(p)),
    async read(p) {
      const fh = await open(local(p), 'r');
      const hash = createHash('sha256');
      let size = 0;
      try {
        const buf = Buffer.allocUnsafe(1024 * KiB);
        for (;;) {
          const { bytesRead: n } = await fh.read(buf, 0, buf.length, size);
          if (n === 0) break;
          hash.update(buf.subarray(0, n));
          size += n;
        }
      } finally {
        await fh.close();
      }
      return { sha: hash.digest('hex'), size };
    },
    async readRange(p, start, length) {
      const fh = await open(local(p), 'r');
      try {
        const buf = Buffer.alloc(length);
        let done = 0;
        while (done < length) {
          const { bytesRead: n } = await fh.read(buf, done, length - done, start + done);
          if (n === 0) break;
          done += n;
        }
        return { sha: createHash('sha256').update(buf.subarray(0, done)).digest('hex'), size: done };
      } finally {
        await fh.close();
      }
    },
  };
}

/** File operations through the WebDAV share, with plain HTTP (every status is checked). */
function davIo(base) {
  const url = (p) => base + p.split('/').map(encodeURIComponent).join('/');
  const request = (method, p, headers = {}, body) => new Promise((resolve, reject) => {
    const req = http.request(url(p), { method, headers, agent }, (res) => resolve(res));
    req.setTimeout(300_000, () => req.destroy(new Error(`${method} ${p}: no answer in 300 s`)));
    req.on('error', reject);
    if (!body) {
      req.end();
      return;
    }
    (async () => {
      for (const chunk of body) {
        if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
      }
      req.end();
    })().catch((e) => req.destroy(e));
  });
  const expect = async (res, statuses, what) => {
    if (statuses.includes(res.statusCode)) {
      res.resume();
      return;
    }
    let text = '';
    for await (const c of res) text += c;
    throw Object.assign(new Error(`${what}: HTTP ${res.statusCode} ${text.slice(0, 200)}`), { code: `HTTP${res.statusCode}` });
  };
  const hashBody = async (res) => {
    const hash = createHash('sha256');
    let size = 0;
    for await (const c of res) {
      hash.update(c);
      size += c.length;
    }
    return { sha: hash.digest('hex'), size };
  };
  let puts = 0;
  const put = async (p, segments) => {
    // Every other PUT is chunked (no Content-Length): the share must spool or stream it.
    const headers = ++puts % 2 ? { 'Content-Length': String(contentSize(segments)) } : { 'Transfer-Encoding': 'chunked' };
    await expect(await request('PUT', p, headers, contentChunks(segments)), [200, 201, 204], `PUT ${p}`);
  };
  return {
    async mkdir(p) {
      const res = await request('MKCOL', p);
      await expect(res, [201, 405], `MKCOL ${p}`);
    },
    put,
    // WebDAV has no append: the client sends the whole new content again.
    append: (p, before, added) => put(p, [...before, added]),
    async rename(a, b) {
      await expect(await request('MOVE', a, { Destination: url(b), Overwrite: 'T' }), [201, 204], `MOVE ${a}`);
    },
    async copy(a, b) {
      await expect(await request('COPY', a, { Destination: url(b), Overwrite: 'T' }), [201, 204], `COPY ${a}`);
    },
    async remove(p) {
      await expect(await request('DELETE', p), [200, 204], `DELETE ${p}`);
    },
    async read(p) {
      const res = await request('GET', p);
      if (res.statusCode !== 200) await expect(res, [200], `GET ${p}`);
      return hashBody(res);
    },
    async readRange(p, start, length) {
      const res = await request('GET', p, { Range: `bytes=${start}-${start + length - 1}` });
      if (res.statusCode !== 206) await expect(res, [206], `GET ${p} Range`);
      return hashBody(res);
    },
  };
}

const workers = [];
for (let i = 0; i < (config.mountpoint ? config.fuseWorkers : 0); i++) workers.push(makeWorker('fuse', i));
for (let i = 0; i < (config.davUrl ? config.davWorkers : 0); i++) workers.push(makeWorker('dav', i));
const started = Date.now();
await Promise.all(workers.map(runWorker));

const files = {};
for (const w of workers) {
  for (const [p, segments] of w.files) {
    if (!uncertain.has(p)) files[p] = { size: contentSize(segments), sha256: contentSha256(segments) };
  }
}
agent.destroy();
const ops = Object.entries(counts).filter(([k]) => k !== 'rangedRead').reduce((n, [, v]) => n + v, 0) + errors.length;
process.stdout.write(JSON.stringify({ ops, counts, errors, uncertain: [...uncertain], files, bytesWritten, bytesRead, ms: Date.now() - started }) + '\n');
