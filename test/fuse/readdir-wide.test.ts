/**
 * Directory listings through the fast readdir path: the entry types the kernel hands to readdir(3)
 * (d_type, what `find -type` and os.scandir use without a stat) are right for files and folders,
 * and a 20 000-entry folder comes back whole, every name once, through libfuse's paging.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryVfs } from '../../adapters/memory/index.js';
import { fuseSkipReason, mountTemp, q, shOk } from './harness.js';
import type { TestMount } from './harness.js';

const WIDE = 20_000;

describe.skipIf(!!fuseSkipReason)('FUSE readdir', () => {
  let vfs: MemoryVfs;
  let m: TestMount;

  beforeAll(async () => {
    vfs = new MemoryVfs();
    await vfs.mkdir('/mixed');
    for (const name of ['a.txt', 'b.bin', 'c']) await vfs.write(`/mixed/${name}`, Buffer.from(name));
    for (const name of ['d1', 'd2']) await vfs.mkdir(`/mixed/${name}`);
    await vfs.mkdir('/wide');
    const one = Buffer.from('x');
    for (let i = 0; i < WIDE; i++) await vfs.write(`/wide/f${String(i).padStart(5, '0')}`, one);
    m = await mountTemp(vfs);
  }, 120_000);
  afterAll(async () => {
    await m?.close();
  });

  it('gives every entry its type in the listing itself (d_type, no stat needed)', async () => {
    // os.scandir answers is_dir()/is_file() from d_type when the listing carries it.
    const script = `import os,sys\nfor e in sorted(os.scandir(sys.argv[1]), key=lambda e: e.name): print(e.name, 'd' if e.is_dir(follow_symlinks=False) else 'f' if e.is_file(follow_symlinks=False) else '?')`;
    const out = await shOk(`python3 -c ${q(script)} ${q(`${m.dir}/mixed`)}`);
    expect(out.trim().split('\n')).toEqual(['a.txt f', 'b.bin f', 'c f', 'd1 d', 'd2 d']);
  });

  it(`lists a ${WIDE}-entry folder whole, every name once`, async () => {
    const out = await shOk(`ls -f ${q(`${m.dir}/wide`)}`, { timeoutMs: 120_000 });
    const names = out.split('\n').filter((n) => n && n !== '.' && n !== '..');
    expect(names.length).toBe(WIDE);
    expect(new Set(names).size).toBe(WIDE);
    expect(names.sort()[WIDE - 1]).toBe(`f${String(WIDE - 1).padStart(5, '0')}`);
  }, 120_000);
});
