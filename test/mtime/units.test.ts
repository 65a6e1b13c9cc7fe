/**
 * Issue 19 item 3, the small parts: times before 1970 through fuse-native's utimens bridge, the range
 * of times sent to providers, the WebDAV parsers, and the capability each Vfs reports.
 */
import { describe, expect, it } from 'vitest';
import { CloudreveVfs } from '../../adapters/cloudreve/index.js';
import { CouchdropVfs } from '../../adapters/couchdrop/index.js';
import { LocalVfs } from '../../adapters/local/index.js';
import { MemoryVfs } from '../../adapters/memory/index.js';
import { trueUtimensMtime } from '../../mount/fuse/utimens-bridge.js';
import { MAX_CLIENT_MTIME_SECONDS, MAX_MTIME_TEXT_CHARS, parseHttpDate, parseMtimeProperty, parseUnixSeconds } from '../../mount/webdav/mtime.js';
import { CachedVfs } from '../../src/cache.js';
import { MAX_PROVIDER_MTIME_MS, providerMtime } from '../../src/mtime.js';
import { mtimeSupportOf } from '../../src/vfs.js';
import { ProbeVfs } from '../fuse/probe-vfs.js';

describe('utimens bridge: times before 1970', () => {
  const handle = (atime: number, mtime: number) => {
    const b = Buffer.alloc(400);
    b.writeBigInt64LE(BigInt(atime), 104);
    b.writeBigInt64LE(BigInt(mtime), 112);
    return b;
  };

  it('reads the struct as signed, so a negative time stays negative', () => {
    expect(trueUtimensMtime(handle(-86_400_000, -3_600_000), -86_400_000, -86_400_000)).toEqual({ mtime: -3_600_000, bridge: 'swapped' });
  });
});

describe('times sent to providers', () => {
  it('after 1970 and up to year 9999 only', () => {
    expect(providerMtime(new Date(1000))?.getTime()).toBe(1000);
    expect(providerMtime(new Date(MAX_PROVIDER_MTIME_MS))?.getTime()).toBe(MAX_PROVIDER_MTIME_MS);
    for (const ms of [0, -1, -86_400_000, MAX_PROVIDER_MTIME_MS + 1, 8.64e15, Number.NaN]) expect(providerMtime(new Date(ms)), String(ms)).toBeUndefined();
    expect(providerMtime(undefined)).toBeUndefined();
    expect(new Date(MAX_PROVIDER_MTIME_MS).toISOString()).toBe('9999-12-31T23:59:59.000Z');
  });
});

describe('WebDAV mtime parsers', () => {
  it('X-OC-Mtime: Unix seconds, fractional allowed; anything else undefined', () => {
    expect(parseUnixSeconds('981173106')?.getTime()).toBe(981_173_106_000);
    expect(parseUnixSeconds(' 981173106.25 ')?.getTime()).toBe(981_173_106_250);
    expect(parseUnixSeconds(String(MAX_CLIENT_MTIME_SECONDS))?.getTime()).toBe(MAX_PROVIDER_MTIME_MS);
    for (const bad of ['', '0', '-1', '1e9', 'NaN', 'Infinity', '0x10', '12abc', String(MAX_CLIENT_MTIME_SECONDS + 1), '9'.repeat(13), '1.', '.5', '9'.repeat(100000)]) {
      expect(parseUnixSeconds(bad), bad.slice(0, 20)).toBeUndefined();
    }
    expect(parseUnixSeconds(['1', '2'])).toBeUndefined();
    // Whitespace around counts towards the bound.
    expect(parseUnixSeconds(' '.repeat(MAX_MTIME_TEXT_CHARS - 9) + '981173106')?.getTime()).toBe(981_173_106_000);
    expect(parseUnixSeconds(' '.repeat(MAX_MTIME_TEXT_CHARS - 8) + '981173106')).toBeUndefined();
    expect(parseUnixSeconds(undefined)).toBeUndefined();
  });

  it('HTTP dates (Win32LastModifiedTime, getlastmodified): IMF-fixdate only', () => {
    expect(parseHttpDate('Sat, 03 Feb 2001 04:05:06 GMT')?.toISOString()).toBe('2001-02-03T04:05:06.000Z');
    for (const bad of ['2001-02-03T04:05:06Z', 'Sat, 03 Feb 2001 04:05:06 PST', 'Sat, 3 Feb 2001 04:05:06 GMT', 'Thu, 01 Jan 1970 00:00:00 GMT', 'Sat, 01 Jan 10000 00:00:00 GMT', 'x'.repeat(10000)]) {
      expect(parseHttpDate(bad), bad.slice(0, 20)).toBeUndefined();
    }
    expect(parseMtimeProperty('http-date', '<b>Sat, 03 Feb 2001 04:05:06 GMT</b>')).toBeUndefined();
    expect(parseMtimeProperty('unix-seconds', '981173106')?.getTime()).toBe(981_173_106_000);
  });
});

describe('mtime capability per Vfs', () => {
  it('set where setMtime exists, on-upload for Couchdrop and Cloudreve, forwarded by wrappers', async () => {
    expect(mtimeSupportOf(new MemoryVfs())).toBe('set');
    expect(mtimeSupportOf(new LocalVfs({ root: '/tmp' }))).toBe('set');
    const couchdrop = new CouchdropVfs({ token: 't', apiUrl: 'http://127.0.0.1:9', fileioUrl: 'http://127.0.0.1:9' });
    const cloudreve = new CloudreveVfs({ baseUrl: 'http://127.0.0.1:9', email: 'a@b.c', password: 'p' });
    expect(mtimeSupportOf(couchdrop)).toBe('on-upload');
    expect(mtimeSupportOf(cloudreve)).toBe('on-upload');
    expect(mtimeSupportOf(new CachedVfs(couchdrop))).toBe('on-upload');
    expect(mtimeSupportOf(new CachedVfs(new MemoryVfs()))).toBe('set');
    // A wrapper that states `set` but lacks the method cannot set.
    expect(mtimeSupportOf(new ProbeVfs(new MemoryVfs()))).toBe('on-upload');
    expect(mtimeSupportOf({ capabilities: { ...new MemoryVfs().capabilities, mtime: 'set', preservesMtime: false } })).toBe('none');
    await couchdrop.close();
    await cloudreve.close();
  });
});
