/**
 * The FUSE mount over MemoryVfs, driven by real programs (cp, dd, mv, ls, stat, df, sh) in child
 * processes against a real kernel mount. The MemoryVfs is inspected directly to prove what reached
 * the "remote".
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MemoryVfs } from '../../adapters/memory/index.js';
import { listPendingUploads } from '../../mount/fuse.js';
import { readAll } from '../../src/streams.js';
import { pseudoRandomBytes } from '../helpers.js';
import { fuseSkipReason, mountTemp, q, sh, shOk } from './harness.js';
import type { TestMount } from './harness.js';

const MiB = 1024 * 1024;

async function fileSha(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function content(vfs: MemoryVfs, path: string): Promise<Buffer> {
  return readAll(await vfs.read(path));
}

describe.skipIf(!!fuseSkipReason)('FUSE mount over MemoryVfs', () => {
  let vfs: MemoryVfs;
  let m: TestMount;
  let dir: string;

  beforeAll(async () => {
    vfs = await MemoryVfs.fromTree({
      'hello.txt': 'hello world\n',
      docs: { 'a.txt': 'alpha', 'b.txt': 'bravo', sub: { 'c.txt': 'charlie' } },
      full: { 'keep.txt': 'x' },
    }, { quota: 4 * 1024 * MiB });
    m = await mountTemp(vfs);
    dir = m.dir;
  });

  afterAll(async () => {
    await m?.close();
  });

  it('copies a 50 MiB file in and out with identical sha256', async () => {
    const src = join(m.scratch, 'big.bin');
    // Written from this process into the scratch folder (not the mount).
    const parts: Buffer[] = [];
    for (let i = 0; i < 50; i++) parts.push(pseudoRandomBytes(MiB, i + 1));
    await writeFile(src, Buffer.concat(parts));
    const want = await fileSha(src);
    await shOk(`cp ${q(src)} ${q(dir + '/big.bin')}`);
    expect((await vfs.stat('/big.bin')).size).toBe(50 * MiB);
    expect(createHash('sha256').update(await content(vfs, '/big.bin')).digest('hex')).toBe(want);
    await shOk(`cp ${q(dir + '/big.bin')} ${q(m.scratch + '/back.bin')}`);
    expect(await fileSha(join(m.scratch, 'back.bin'))).toBe(want);
    const viaMount = (await shOk(`sha256sum ${q(dir + '/big.bin')}`)).split(' ')[0];
    expect(viaMount).toBe(want);
  });

  it('writes at offsets with dd (conv=notrunc keeps the rest of the file)', async () => {
    await vfs.write('/dd.bin', Buffer.alloc(10_000, 0x61)); // "aaaa…"
    await shOk(`printf XYZ | dd of=${q(dir + '/dd.bin')} bs=1 seek=5000 conv=notrunc status=none`);
    await shOk(`printf END | dd of=${q(dir + '/dd.bin')} bs=1 seek=12000 conv=notrunc status=none`);
    const bytes = await content(vfs, '/dd.bin');
    expect(bytes.length).toBe(12_003);
    expect(bytes.subarray(4998, 5005).toString('latin1')).toBe('aaXYZaa');
    expect(bytes.subarray(10_000, 12_000).every((b) => b === 0)).toBe(true); // the hole reads as zeros
    expect(bytes.subarray(12_000).toString()).toBe('END');
    // A read of a range through the mount sees the same bytes.
    expect(await shOk(`dd if=${q(dir + '/dd.bin')} bs=1 skip=4999 count=5 status=none`)).toBe('aXYZa');
  });

  it('appends with >> and truncates with truncate', async () => {
    await shOk(`printf 'line1\\n' > ${q(dir + '/log.txt')} && printf 'line2\\n' >> ${q(dir + '/log.txt')}`);
    await shOk(`printf 'line3\\n' >> ${q(dir + '/log.txt')}`);
    expect((await content(vfs, '/log.txt')).toString()).toBe('line1\nline2\nline3\n');
    await shOk(`truncate -s 5 ${q(dir + '/log.txt')}`);
    expect((await content(vfs, '/log.txt')).toString()).toBe('line1');
    await shOk(`truncate -s 8 ${q(dir + '/log.txt')}`);
    expect(await content(vfs, '/log.txt')).toEqual(Buffer.concat([Buffer.from('line1'), Buffer.alloc(3)]));
    expect((await shOk(`stat -c %s ${q(dir + '/log.txt')}`)).trim()).toBe('8');
  });

  it('overwrites an existing file with > (truncate, then write)', async () => {
    await vfs.write('/over.bin', pseudoRandomBytes(3 * MiB, 9));
    await shOk(`echo changed > ${q(dir + '/over.bin')}`);
    expect((await content(vfs, '/over.bin')).toString()).toBe('changed\n');
    await shOk(`head -c 2000000 /dev/zero > ${q(dir + '/over.bin')}`);
    expect((await vfs.stat('/over.bin')).size).toBe(2_000_000);
    // `: >` opens with O_TRUNC and writes nothing: the truncation is uploaded at RELEASE, which the
    // kernel sends after close(2) has returned (a flush with no byte written uploads nothing, so a
    // write that fails later cannot leave an empty file behind). The mount shows 0 at once; the
    // provider has it once the release is done.
    await shOk(`: > ${q(dir + '/over.bin')}`);
    expect((await shOk(`stat -c %s ${q(dir + '/over.bin')}`)).trim()).toBe('0');
    await vi.waitFor(async () => expect((await vfs.stat('/over.bin')).size).toBe(0), { timeout: 10_000, interval: 20 });
  });

  it('moves within and across folders, creates with mkdir -p and removes with rm -r', async () => {
    await shOk(`cd ${q(dir)} && mkdir -p deep/a/b/c && printf one > deep/a/one.txt && mv deep/a/one.txt deep/a/uno.txt`);
    expect((await content(vfs, '/deep/a/uno.txt')).toString()).toBe('one');
    await expect(vfs.stat('/deep/a/one.txt')).rejects.toMatchObject({ code: 'ENOENT' });
    await shOk(`cd ${q(dir)} && mv deep/a/uno.txt deep/a/b/c/ && mv deep/a/b moved-b`);
    expect((await content(vfs, '/moved-b/c/uno.txt')).toString()).toBe('one');
    await expect(vfs.stat('/deep/a/b')).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await shOk(`cat ${q(dir + '/moved-b/c/uno.txt')}`)).toBe('one');
    await shOk(`cd ${q(dir)} && rm -r deep moved-b`);
    await expect(vfs.stat('/deep')).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(vfs.stat('/moved-b')).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await shOk(`ls ${q(dir)}`)).not.toMatch(/deep|moved-b/);
  });

  it('ls -l and stat report sizes and mtimes the store holds', async () => {
    const out = await shOk(`ls -l --time-style=+%s ${q(dir + '/docs')}`);
    expect(out).toMatch(/-rw-r--r-- .* 5 \d+ a\.txt/);
    expect(out).toMatch(/^d.* sub$/m);
    const entry = await vfs.stat('/docs/b.txt');
    const [size, mtime] = (await shOk(`stat -c '%s %Y' ${q(dir + '/docs/b.txt')}`)).trim().split(' ');
    expect(Number(size)).toBe(entry.size);
    expect(Number(mtime)).toBe(Math.floor(entry.mtime.getTime() / 1000));
  });

  it('df reports the provider quota', async () => {
    const out = await shOk(`df -B1 --output=size,avail ${q(dir)} | tail -1`);
    const [size, avail] = out.trim().split(/\s+/).map(Number);
    expect(size).toBe(4 * 1024 * MiB);
    const space = await vfs.space();
    expect(Math.abs(avail! - space.free!)).toBeLessThan(MiB);
  });

  it("survives an editor's save: write a temp file, then rename it over the original", async () => {
    await vfs.write('/notes.md', Buffer.from('old text'));
    await shOk(`cd ${q(dir)} && printf 'new text' > .notes.md.swp && mv -f .notes.md.swp notes.md`);
    expect((await content(vfs, '/notes.md')).toString()).toBe('new text');
    await expect(vfs.stat('/.notes.md.swp')).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await shOk(`cat ${q(dir + '/notes.md')}`)).toBe('new text');
  });

  it('shows readers and stat the new content of a file still open for writing', async () => {
    const f = q(dir + '/open.txt');
    const out = await shOk(`exec 3>${f}; printf 'abc' >&3; cat ${f}; echo; stat -c %s ${f}; printf 'def' >&3; cat ${f}; exec 3>&-`);
    expect(out).toBe('abc\n3\nabcdef');
    expect((await content(vfs, '/open.txt')).toString()).toBe('abcdef');
  });

  it('answers with the errno messages programs print', async () => {
    const missing = await sh(`cat ${q(dir + '/missing.txt')}`);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('No such file or directory');
    const notEmpty = await sh(`rmdir ${q(dir + '/full')}`);
    expect(notEmpty.stderr).toContain('Directory not empty');
    const exists = await sh(`mkdir ${q(dir + '/full')}`);
    expect(exists.stderr).toContain('File exists');
    const rmDir = await sh(`rm ${q(dir + '/full')}`);
    expect(rmDir.stderr).toContain('Is a directory');
  });

  it('leaves no spool files behind after successful uploads', async () => {
    await vi.waitFor(async () => {
      const left = await sh(`ls -A ${q(m.spoolDir)} 2>/dev/null | wc -l`);
      expect(left.stdout.trim()).toBe('0');
    }, { timeout: 10_000, interval: 50 });
  });
});

describe.skipIf(!!fuseSkipReason)('FUSE mount with every spool on disk (spoolMemoryBytes: 0)', () => {
  it('writes at offsets, appends, truncates and overwrites through spool files', async () => {
    const vfs = await MemoryVfs.fromTree({ 'base.txt': '0123456789' });
    const m = await mountTemp(vfs, { spoolMemoryBytes: 0 });
    try {
      const f = q(m.dir + '/base.txt');
      await shOk(`printf AB | dd of=${f} bs=1 seek=3 conv=notrunc status=none`);
      expect((await content(vfs, '/base.txt')).toString()).toBe('012AB56789');
      await shOk(`printf '+' >> ${f}`);
      expect((await content(vfs, '/base.txt')).toString()).toBe('012AB56789+');
      await shOk(`truncate -s 4 ${f}`);
      expect((await content(vfs, '/base.txt')).toString()).toBe('012A');
      await shOk(`: > ${f} && printf new > ${q(m.dir + '/fresh.txt')}`);
      expect((await vfs.stat('/base.txt')).size).toBe(0);
      expect((await content(vfs, '/fresh.txt')).toString()).toBe('new');
      // Spool files go when the last handle is released, which the kernel sends just after close().
      await vi.waitFor(async () => expect((await shOk(`ls -A ${q(m.spoolDir)} | wc -l`)).trim()).toBe('0'), { timeout: 10_000, interval: 50 });
    } finally {
      await m.close();
    }
  });
});

describe.skipIf(!!fuseSkipReason)('FUSE mount and changes made elsewhere', () => {
  it('re-reads a file changed behind its back once the metadata caches expire (kernel cache is per version)', async () => {
    const vfs = await MemoryVfs.fromTree({ 'shared.txt': 'version 1' });
    const m = await mountTemp(vfs, { metadataTtlMs: 300, cache: { statTtlMs: 300, dirTtlMs: 300, negativeTtlMs: 300 }, attrTimeoutSec: 0.3, entryTimeoutSec: 0.3 });
    try {
      const f = q(m.dir + '/shared.txt');
      expect(await shOk(`cat ${f}`)).toBe('version 1');
      expect(await shOk(`cat ${f}`)).toBe('version 1'); // served from the page cache
      // Same size, new content and mtime, written by "another client".
      await vfs.write('/shared.txt', Buffer.from('version 2'), { mtime: new Date(Date.now() + 5000) });
      await new Promise((r) => setTimeout(r, 1200));
      expect(await shOk(`cat ${f}`)).toBe('version 2');
    } finally {
      await m.close();
    }
  });
});

describe.skipIf(!!fuseSkipReason)('FUSE mount limits', () => {
  it('reports a full quota as "No space left on device" and keeps the bytes', async () => {
    const vfs = await MemoryVfs.fromTree({ 'small.txt': 'x' }, { quota: MiB });
    const m = await mountTemp(vfs);
    try {
      await writeFile(join(m.scratch, 'two-mib.bin'), pseudoRandomBytes(2 * MiB, 3));
      const r = await sh(`cp ${q(m.scratch + '/two-mib.bin')} ${q(m.dir + '/two-mib.bin')}`);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('No space left on device');
      await expect(vfs.stat('/two-mib.bin')).rejects.toMatchObject({ code: 'ENOENT' });
      // Nothing is lost: the bytes wait in the spool as a pending upload.
      // (release reaches the mount just after close() returned, so wait for it.)
      const pending = await vi.waitFor(async () => {
        const list = await listPendingUploads(m.spoolDir);
        if (list.length === 0) throw new Error('not kept yet');
        return list;
      }, { timeout: 10_000, interval: 50 });
      expect(pending).toMatchObject([{ path: '/two-mib.bin', size: 2 * MiB, reason: 'failed', error: { code: 'ENOSPC' } }]);
    } finally {
      await m.close();
    }
  });

  it('refuses changes on a read-only mount with "Read-only file system" and still reads', async () => {
    const vfs = await MemoryVfs.fromTree({ 'r.txt': 'readable' });
    const m = await mountTemp(vfs, { readOnly: true });
    try {
      expect(await shOk(`cat ${q(m.dir + '/r.txt')}`)).toBe('readable');
      for (const cmd of [`touch ${q(m.dir + '/new')}`, `mkdir ${q(m.dir + '/d')}`, `rm ${q(m.dir + '/r.txt')}`, `sh -c 'echo x >> ${m.dir}/r.txt'`]) {
        const r = await sh(cmd);
        expect(r.code, cmd).not.toBe(0);
        expect(r.stderr, cmd).toContain('Read-only file system');
      }
      expect((await readAll(await vfs.read('/r.txt'))).toString()).toBe('readable');
    } finally {
      await m.close();
    }
  });
});
