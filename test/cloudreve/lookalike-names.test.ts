/**
 * Issue 16 #3: names holding a forbidden character and names holding its full-width look-alike must
 * not meet on the server. The name encoding is a bijection between Vfs names and legal Cloudreve
 * names (property tests), and `what?.txt` / `what？.txt` live side by side (end to end).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CloudreveVfs, decodeName, encodeName } from '../../adapters/cloudreve/index.js';
import { validateName } from '../../adapters/cloudreve/emulator/store.js';
import { serveWebdav } from '../../mount/webdav.js';
import { CachedVfs } from '../../src/cache.js';
import type { Vfs } from '../../src/vfs.js';
import { collect } from '../helpers.js';
import { emulator } from './fixtures.js';

const FORBIDDEN = ['\\', ':', '*', '?', '"', '<', '>', '|'];
const TWINS = ['＼', '：', '＊', '？', '＂', '＜', '＞', '｜'];
const QUOTE = '‛'; // U+201B, the escape
/** Every character that matters to the encoding, plus plain ones and a non-BMP one. */
const ALPHABET = [...FORBIDDEN, ...TWINS, QUOTE, 'a', '.', ' ', '中', '😀'];
const names = fc.array(fc.constantFrom(...ALPHABET), { minLength: 1, maxLength: 24 }).map((a) => a.join(''));
/** Names as another Cloudreve client may have stored them: anything legal on the server. */
const serverNames = fc.array(fc.constantFrom(...TWINS, QUOTE, 'a', '.', '中'), { minLength: 1, maxLength: 24 })
  .map((a) => a.join(''))
  .filter((n) => n !== '.' && n !== '..');

describe('Cloudreve name encoding is a bijection (property)', () => {
  it('decode(encode(s)) === s, and the encoded name is legal on the server', () => {
    fc.assert(fc.property(names, (s) => {
      const e = encodeName(s);
      expect(decodeName(e)).toBe(s);
      if (s !== '.' && s !== '..') expect(() => validateName(e)).not.toThrow();
    }), { numRuns: 5000 });
  });

  it('encode is injective: two different names never share a server name', () => {
    fc.assert(fc.property(names, names, (a, b) => {
      fc.pre(a !== b);
      expect(encodeName(a)).not.toBe(encodeName(b));
    }), { numRuns: 5000 });
    // The pair of the issue, and the escape itself.
    expect(encodeName('what?.txt')).not.toBe(encodeName('what？.txt'));
    expect(encodeName(`${QUOTE}？`)).not.toBe(encodeName('？'));
    expect(encodeName(`${QUOTE}?`)).not.toBe(encodeName('？'));
  });

  it('every name stored by another client is reachable: encode(decode(n)) === n', () => {
    fc.assert(fc.property(serverNames, (n) => {
      expect(encodeName(decodeName(n))).toBe(n);
    }), { numRuns: 5000 });
  });

  it('names without look-alikes or the escape are stored as before (no rename of existing files)', () => {
    expect(encodeName('a\\b:c*d?e"f<g>h|i')).toBe('a＼b：c＊d？e＂f＜g＞h｜i');
    expect(encodeName('plain ‛ quote')).toBe('plain ‛ quote');
    expect(decodeName('what？.txt')).toBe('what?.txt');
  });
});

describe('look-alike names on the emulator (end to end)', () => {
  const cases: Array<[string, (vfs: CloudreveVfs) => Vfs]> = [
    ['CloudreveVfs', (vfs) => vfs],
    ['CachedVfs(CloudreveVfs)', (vfs) => new CachedVfs(vfs)],
  ];
  for (const [label, wrap] of cases) {
    it(`${label}: what?.txt and what？.txt are two files with their own content`, async () => {
      const emu = await emulator({ chunkSize: 4 });
      const inner = new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password, maxAttempts: 2 });
      const vfs = wrap(inner);
      try {
        const ascii = 'what?.txt';
        const wide = 'what？.txt';
        const escaped = `what${QUOTE}？.txt`;
        await vfs.mkdir('/d');
        // Small (PUT /file/content) and session (chunked) uploads both.
        await vfs.write(`/d/${ascii}`, Buffer.from('ascii question'));
        // The default (overwrite) is what a WebDAV PUT does: it must not land on the first file.
        await vfs.write(`/d/${wide}`, Buffer.from('full-width question'));
        await vfs.write(`/d/${escaped}`, Buffer.from('escape then twin'), { overwrite: false });
        const listed = (await vfs.list('/d')).map((e) => e.name).sort();
        expect(listed).toEqual([ascii, escaped, wide].sort());
        expect((await collect(await vfs.read(`/d/${ascii}`))).toString()).toBe('ascii question');
        expect((await collect(await vfs.read(`/d/${wide}`))).toString()).toBe('full-width question');
        expect((await collect(await vfs.read(`/d/${escaped}`))).toString()).toBe('escape then twin');
        expect((await vfs.stat(`/d/${wide}`)).size).toBe('full-width question'.length);
        // Rename onto the twin's name is a different target too.
        await vfs.rename(`/d/${wide}`, '/d/moved？');
        expect((await collect(await vfs.read(`/d/${ascii}`))).toString()).toBe('ascii question');
        expect((await collect(await vfs.read('/d/moved？'))).toString()).toBe('full-width question');
        // A fresh Vfs (no cache) sees the same three files.
        const fresh = new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password });
        expect((await fresh.list('/d')).map((e) => e.name).sort()).toEqual([ascii, escaped, 'moved？'].sort());
        await fresh.close();
      } finally {
        await vfs.close();
      }
    });
  }
});

describe('look-alike names over WebDAV (serveWebdav with its default cache, over the emulator)', () => {
  it('PUT what?.txt then what？.txt: 201 twice, both listed, each GET its own bytes', async () => {
    const emu = await emulator();
    const vfs = new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password, maxAttempts: 2 });
    const server = await serveWebdav(vfs);
    try {
      const url = (name: string) => server.url + encodeURIComponent(name);
      expect((await fetch(url('what?.txt'), { method: 'PUT', body: 'ascii' })).status).toBe(201);
      // Before the fix this was 204: the same server file, silently replaced.
      expect((await fetch(url('what？.txt'), { method: 'PUT', body: 'wide' })).status).toBe(201);
      expect(await (await fetch(url('what?.txt'))).text()).toBe('ascii');
      expect(await (await fetch(url('what？.txt'))).text()).toBe('wide');
      const listing = await (await fetch(server.url, { method: 'PROPFIND', headers: { Depth: '1' } })).text();
      expect(decodeURIComponent(listing)).toContain('what?.txt');
      expect(decodeURIComponent(listing)).toContain('what？.txt');
    } finally {
      await server.close();
      await vfs.close();
    }
  });
});
