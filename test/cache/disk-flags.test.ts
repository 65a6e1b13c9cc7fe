/** The disk cache flags of `mount` and `serve webdav`: parsed with cli/units.ts, checked together. */
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { addDiskCacheOptions, withDiskCache } from '../../cli/disk-cache-options.js';
import type { DiskCacheFlags } from '../../cli/disk-cache-options.js';

function parse(args: string[]): DiskCacheFlags {
  const cmd = addDiskCacheOptions(new Command('mount').option('--no-cache').exitOverride());
  cmd.parse(args, { from: 'user' });
  return cmd.opts<DiskCacheFlags>();
}

describe('disk cache flags', () => {
  it('sizes and durations in human units become cacheMaxSize/cacheMaxAge/cacheMinFreeSpace, scoped to the location', () => {
    const flags = parse(['--cache-dir', '/var/cache/cm', '--cache-max-size', '20G', '--cache-max-age', '3d', '--cache-min-free-space', '512M']);
    expect(withDiskCache({ watch: true }, flags, 'cloudreve:/media')).toEqual({
      watch: true, cacheDir: '/var/cache/cm', cacheScope: 'cloudreve:/media',
      cacheMaxSize: 20 * 1024 ** 3, cacheMaxAge: 3 * 86_400_000, cacheMinFreeSpace: 512 * 1024 ** 2,
    });
  });

  it('without --cache-dir nothing changes', () => {
    expect(withDiskCache({ watch: true }, parse([]), 'r:/')).toEqual({ watch: true });
    expect(withDiskCache(false, parse(['--no-cache']), 'r:/')).toBe(false);
  });

  it('refuses limits without --cache-dir, --cache-dir with --no-cache, and a bad size', () => {
    expect(() => withDiskCache({}, parse(['--cache-max-size', '1G']), 'r:/')).toThrow(/need --cache-dir/);
    expect(() => withDiskCache(false, parse(['--no-cache', '--cache-dir', '/tmp/x']), 'r:/')).toThrow(/drop --no-cache/);
    expect(() => parse(['--cache-max-size', 'lots'])).toThrow(/expected a size/);
  });
});
