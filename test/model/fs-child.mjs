// The model tests' hands on a FUSE mount: a long-lived child process that reads one JSON command per
// line on stdin, runs it with node:fs on the mountpoint and answers one JSON line on stdout. The
// mount lives in the test process; a filesystem call from there could deadlock its event loop.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { createInterface } from 'node:readline';

const CHUNK = 64 * 1024;

/** Write `data` (or `size` bytes of `fill`) with open/write…/close, reporting the stage that failed. */
async function write(path, flag, data) {
  let stage = 'open';
  const fh = await fs.open(path, flag).catch((e) => Promise.reject(Object.assign(e, { stage })));
  try {
    stage = 'write';
    for (let off = 0; off < data.length; off += CHUNK) await fh.write(data.subarray(off, off + CHUNK));
  } catch (e) {
    await fh.close().catch(() => undefined);
    throw Object.assign(e, { stage });
  }
  stage = 'close';
  await fh.close().catch((e) => Promise.reject(Object.assign(e, { stage })));
}

async function walk(root) {
  const out = [];
  const queue = [''];
  while (queue.length > 0) {
    const rel = queue.shift();
    for (const d of await fs.readdir(root + rel, { withFileTypes: true })) {
      const p = `${rel}/${d.name}`;
      const st = await fs.stat(root + p);
      if (st.isDirectory()) {
        out.push({ path: p, type: 'dir' });
        queue.push(p);
      } else {
        const data = await fs.readFile(root + p);
        out.push({ path: p, type: 'file', size: st.size, read: data.length, sha: createHash('sha256').update(data).digest('hex').slice(0, 12), mtime: Math.round(st.mtimeMs / 1000) });
      }
    }
  }
  return out;
}

const ops = {
  write: (a) => write(a.path, a.append ? 'a' : 'w', a.fill !== undefined ? Buffer.alloc(a.size, a.fill) : Buffer.from(a.b64, 'base64')),
  truncate: (a) => fs.truncate(a.path, a.size),
  mkdir: (a) => fs.mkdir(a.path),
  unlink: (a) => fs.unlink(a.path),
  rmdir: (a) => fs.rmdir(a.path),
  rmrf: (a) => fs.rm(a.path, { recursive: true }),
  rename: (a) => fs.rename(a.from, a.to),
  copy: (a) => fs.copyFile(a.from, a.to),
  utimes: (a) => fs.utimes(a.path, a.atime, a.mtime),
  // `touch -c -m`: utimensat with atime UTIME_OMIT, which node's fs.utimes cannot send.
  touchM: async (a) => {
    try {
      execFileSync('touch', ['-c', '-m', '-d', `@${a.mtime}`, a.path], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e) {
      const text = String(e.stderr ?? '');
      throw Object.assign(new Error(text.trim()), { code: /No such file/.test(text) ? 'ENOENT' : /Not a directory/.test(text) ? 'ENOTDIR' : /Permission/.test(text) ? 'EPERM' : 'EIO' });
    }
  },
  walk: (a) => walk(a.path),
};

const rl = createInterface({ input: process.stdin });
rl.on('line', async (line) => {
  const { id, op, args } = JSON.parse(line);
  try {
    const result = await ops[op](args);
    process.stdout.write(JSON.stringify({ id, ok: true, result: result ?? null }) + '\n');
  } catch (e) {
    process.stdout.write(JSON.stringify({ id, ok: false, code: e.code ?? 'UNKNOWN', stage: e.stage, message: String(e.message).slice(0, 300) }) + '\n');
  }
});
rl.on('close', () => process.exit(0));
