/**
 * Issue 24: human units both ways, --addr forms, and the library pieces the CLI's transfer commands
 * stand on (filters, comparison rules, the bandwidth budget), without child processes.
 */
import { describe, expect, it } from 'vitest';
import { MemoryVfs } from '../../adapters/memory/index.js';
import { parseAddr } from '../../cli/args.js';
import { describeError } from '../../cli/errors.js';
import { validateRemote } from '../../cli/config.js';
import { limitsOf } from '../../cli/remotes.js';
import { formatBytes, formatDuration, formatRate, parseAgeMs, parseDurationMs, parseSize } from '../../cli/units.js';
import { VfsError, opError } from '../../src/errors.js';
import { BandwidthLimit, createFilter, syncTrees } from '../../src/transfer.js';
import type { Entry } from '../../src/vfs.js';

const file = (size: number, ageMs = 0): Entry => ({ path: '/x', name: 'x', type: 'file', size, mtime: new Date(Date.now() - ageMs) });

describe('units', () => {
  it('rates and sizes are rounded like a person writes them', () => {
    expect(formatRate(709.6774193548387)).toBe('710 B/s');
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(123.4 * 1024 * 1024)).toBe('123 MiB');
    expect(formatDuration(400)).toBe('0.4 s');
    expect(formatDuration(185_000)).toBe('3m05s');
    expect(formatDuration(7_380_000)).toBe('2h03m');
  });

  it('sizes, durations and ages parse; nonsense is refused', () => {
    expect(parseSize('10k')).toBe(10 * 1024);
    expect(parseSize('1.5M')).toBe(1.5 * 1024 * 1024);
    expect(parseSize('2GiB')).toBe(2 * 1024 ** 3);
    expect(parseSize('512')).toBe(512);
    expect(() => parseSize('lots')).toThrow(/expected a size/);
    expect(parseDurationMs('500ms')).toBe(500);
    expect(parseDurationMs('1h30m')).toBe(5_400_000);
    expect(parseDurationMs('7d')).toBe(7 * 86_400_000);
    expect(() => parseDurationMs('soon')).toThrow(/expected a duration/);
    expect(parseAgeMs('2026-01-01T00:00:00Z', Date.parse('2026-01-02T00:00:00Z'))).toBe(86_400_000);
    // Linear on hostile input: a long run of digits is refused at once, not backtracked.
    expect(() => parseSize('1'.repeat(100_000) + 'x')).toThrow();
  });

  it('--addr PORT is 127.0.0.1:PORT (not host "808"); other forms', () => {
    expect(parseAddr('8080')).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(parseAddr(':8080')).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(parseAddr('0.0.0.0:80')).toEqual({ host: '0.0.0.0', port: 80 });
    expect(parseAddr('[::1]:8443')).toEqual({ host: '::1', port: 8443 });
    expect(() => parseAddr('::1:80')).toThrow(/--addr must be PORT/);
    expect(() => parseAddr('99999')).toThrow(/out of range/);
  });

  it('a remote may carry tpslimit, maxConcurrency and bwlimit in the config file', () => {
    const bad = (why: string) => new Error(why);
    expect(validateRemote({ type: 'memory', tpslimit: 5, maxConcurrency: '2', bwlimit: '1M' }, bad)).toMatchObject({ tpslimit: 5 });
    expect(() => validateRemote({ type: 'memory', tpslimit: 'fast' }, bad)).toThrow(/"tpslimit" must be a positive number/);
    expect(limitsOf({ type: 'memory', tpslimit: 5, maxConcurrency: '2' })).toEqual({ requestsPerSecond: 5, concurrency: 2 });
  });

  it('errors: the errno once, library option names as flags', () => {
    expect(describeError(new VfsError('ENOENT', "ENOENT: no such file or directory, stat '/x'"))).toBe("ENOENT: no such file or directory, stat '/x'");
    expect(describeError(opError('ENOENT', 'no such file or directory', 'stat', '/x'))).toBe('ENOENT: no such file or directory, stat "/x"');
    expect(describeError(new VfsError('ENOTEMPTY', '/m is not empty; mount on an empty folder (or pass allowNonEmpty)'))).toMatch(/pass --allow-non-empty\)$/);
  });
});

describe('transfer library', () => {
  it('filters: name globs anywhere, path globs from the root, size and age bounds', () => {
    const f = createFilter({ include: ['*.jpg', '/docs/**'], exclude: ['**/tmp/**'], minSize: 10, maxAgeMs: 86_400_000 });
    expect(f.matches('a/b/c.jpg', file(100))).toBe(true);
    expect(f.matches('docs/x/readme.md', file(100))).toBe(true);
    expect(f.matches('a/docs/readme.md', file(100))).toBe(false);
    expect(f.matches('a/tmp/c.jpg', file(100))).toBe(false);
    expect(f.matches('c.jpg', file(5))).toBe(false);
    expect(f.matches('c.jpg', file(100, 2 * 86_400_000))).toBe(false);
    expect(() => createFilter({ include: ['x'.repeat(2000)] })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  it('the bandwidth budget holds a run to its rate (a floor on the time, none on the speed)', async () => {
    const limit = new BandwidthLimit(100 * 1024);
    const started = Date.now();
    for (let i = 0; i < 20; i++) await limit.take(10 * 1024);
    // 200 KiB at 100 KiB/s is 2 s; an idle budget lends a quarter second up front and lets the last
    // chunk go a quarter second early: at least 1.5 s.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1450);
  });

  it('sync between two MemoryVfs: delete-after skips deletions when a copy fails', async () => {
    const src = new MemoryVfs();
    const dst = new MemoryVfs();
    await src.write('/a.txt', Buffer.from('a'));
    await src.write('/b.txt', Buffer.from('b'));
    await dst.write('/extra.txt', Buffer.from('keep'));
    const failing = Object.create(dst, {
      write: { value: async (path: string, data: never, opts: never) => (path.endsWith('b.txt') ? Promise.reject(new VfsError('EIO', 'refused')) : dst.write(path, data, opts)) },
    }) as MemoryVfs;
    const r = await syncTrees({ vfs: src, path: '/' }, { vfs: failing, path: '/' }, { mode: 'sync' });
    expect(r.copied).toBe(1);
    expect(r.failed.map((f) => f.rel)).toEqual(['b.txt']);
    expect(r.deletesSkipped).toBe(1);
    expect((await dst.stat('/extra.txt')).size).toBe(4);
    const ok = await syncTrees({ vfs: src, path: '/' }, { vfs: dst, path: '/' }, { mode: 'sync' });
    expect(ok).toMatchObject({ copied: 1, unchanged: 1, deleted: 1, failed: [] });
  });
});
