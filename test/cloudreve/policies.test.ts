/**
 * Every storage policy's upload flow, end to end over the emulator: CloudreveVfs picks the flow from
 * the session's policy and the emulator plays the storage provider (storage/server.ts), which refuses
 * what the real one would (Authorization next to a presigned URL, a Content-Length other than the
 * signed one, a wrong ETag in the Complete XML, ranges out of order…).
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { EmulatedPolicy } from '../../adapters/cloudreve/emulator/storage/policies.js';
import { collect, expectCode, pseudoRandomBytes, sha256 } from '../helpers.js';
import { setup } from './fixtures.js';

const MiB = 1024 * 1024;
const TYPES = ['local', 'remote', 'onedrive', 's3', 'ks3', 'oss', 'cos', 'obs', 'qiniu', 'upyun'] as const;

/** One policy per type (5 MiB parts, 3 at once), each on its own folder, plus a relayed S3 and a small one. */
function policySetup(extra: Parameters<typeof setup>[0] = {}, vfsOptions: Parameters<typeof setup>[1] = {}) {
  const policies: EmulatedPolicy[] = [
    { id: 'dflt', type: 'local' },
    ...TYPES.map((type) => ({ id: `p-${type}`, type, chunk_size: 5 * MiB, chunk_concurrency: 3 })),
    { id: 'p-relay', type: 's3', relay: true, chunk_size: 5 * MiB },
    { id: 'p-small', type: 's3', max_size: MiB, denied_suffix: ['exe'], chunk_size: 5 * MiB },
  ];
  const seed: Record<string, Record<string, never>> = {};
  const folderPolicies: Record<string, string> = {};
  for (const p of policies.slice(1)) {
    const name = p.id.slice(2);
    seed[name] = {};
    folderPolicies[`/${name}`] = p.id;
  }
  return setup({ seed, policies, folderPolicies, ...extra }, { smallFileBytes: 0, stateDir: false, ...vfsOptions });
}

/** Requests that reached the emulated storage providers. */
const storageRequests = (emu: Awaited<ReturnType<typeof setup>>['emu']) => emu.requests('STORAGE ');

describe('CloudreveVfs: every storage policy uploads straight to its storage', () => {
  for (const type of [...TYPES, 'relay'] as const) {
    it(`${type}: 0 B, 1 B, one part and 25 MiB in several parts read back byte-identical`, async () => {
      const { emu, vfs } = await policySetup();
      const files: Array<[string, Buffer]> = [
        ['empty.bin', Buffer.alloc(0)],
        ['one.bin', Buffer.from('x')],
        ['part.bin', pseudoRandomBytes(MiB + 7, 2)],
        ['big.bin', pseudoRandomBytes(25 * MiB + 3, 3)],
      ];
      for (const [name, data] of files) {
        // The big one as a stream of declared size: parts are cut from it as it arrives.
        const source = data.length > 2 * MiB ? Readable.from([data.subarray(0, 7 * MiB), data.subarray(7 * MiB)]) : data;
        const entry = await vfs.write(`/${type}/${name}`, source, { size: data.length });
        expect(entry.size).toBe(data.length);
        expect(sha256(await collect(await vfs.read(`/${type}/${name}`)))).toBe(sha256(data));
      }
      const direct = storageRequests(emu);
      if (type === 'local' || type === 'relay') {
        expect(direct).toHaveLength(0);
        expect(emu.requests('POST /file/upload/').length).toBeGreaterThan(0);
      } else {
        expect(emu.requests('POST /file/upload/')).toHaveLength(0);
        // Every storage request was accepted (no presigned URL refused, no range out of order).
        expect(direct.filter((e) => e.status >= 300)).toEqual([]);
        const parts = direct.filter((e) => !e.route.endsWith('complete') && e.method !== 'GET');
        if (type === 'upyun') expect(parts).toHaveLength(3); // one form per file
        else if (type === 'qiniu') expect(parts.filter((e) => e.method === 'PUT')).toHaveLength(1 + 1 + 6);
        else expect(parts).toHaveLength(1 + 1 + 6);
      }
      expect(emu.store.sessions.size).toBe(0);
      expect(emu.storage.staged.size).toBe(0);
    }, 60_000);
  }

  it('s3 parts run in parallel up to chunk_concurrency, carry no Authorization, and the callback finishes the file', async () => {
    const { emu, vfs } = await policySetup();
    let inFlight = 0;
    let most = 0;
    const server = emu as unknown as { storage: { handle: (...a: unknown[]) => Promise<void> } };
    const handle = server.storage.handle.bind(server.storage);
    server.storage.handle = async (...a: unknown[]) => {
      inFlight++;
      most = Math.max(most, inFlight);
      try {
        await handle(...a);
      } finally {
        inFlight--;
      }
    };
    const data = pseudoRandomBytes(30 * MiB, 5);
    await vfs.write('/s3/par.bin', data);
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(3);
    expect(emu.requests('GET /callback/')).toHaveLength(1);
    expect(sha256(await collect(await vfs.read('/s3/par.bin')))).toBe(sha256(data));
  }, 60_000);

  for (const [type, route] of [['s3', 'STORAGE PUT s3'], ['onedrive', 'STORAGE PUT onedrive'], ['remote', 'STORAGE POST remote'], ['qiniu', 'STORAGE PUT qiniu']] as const) {
    it(`${type}: a part that fails twice then succeeds is retried on its own`, async () => {
      const { emu, vfs } = await policySetup();
      emu.injectFault('storage-500', { route, times: 2 });
      const data = pseudoRandomBytes(12 * MiB, 6);
      await vfs.write(`/${type}/retry.bin`, data);
      expect(emu.requests(route).filter((e) => e.fault)).toHaveLength(2);
      expect(emu.requests('PUT /file/upload')).toHaveLength(1);
      expect(sha256(await collect(await vfs.read(`/${type}/retry.bin`)))).toBe(sha256(data));
    }, 60_000);
  }

  it('s3: SlowDown (503) backs off through the Scheduler and the upload completes', async () => {
    const { emu, vfs } = await policySetup();
    emu.injectFault('storage-slowdown', { route: 'STORAGE PUT s3', times: 2 });
    const data = pseudoRandomBytes(11 * MiB, 7);
    await vfs.write('/s3/slow.bin', data);
    expect(vfs.scheduler.stats().throttled).toBeGreaterThanOrEqual(2);
    expect(sha256(await collect(await vfs.read('/s3/slow.bin')))).toBe(sha256(data));
  }, 60_000);

  it('s3: an expired presigned URL re-opens the session (bytes can be re-read) and the old one is cancelled', async () => {
    const { emu, vfs } = await policySetup();
    emu.injectFault('storage-expired', { route: 'STORAGE PUT s3', times: 1 });
    const data = pseudoRandomBytes(8 * MiB, 8);
    await vfs.write('/s3/expired.bin', data);
    expect(emu.requests('PUT /file/upload')).toHaveLength(2);
    expect(emu.requests('DELETE /file/upload')).toHaveLength(1);
    expect(sha256(await collect(await vfs.read('/s3/expired.bin')))).toBe(sha256(data));
  }, 60_000);

  it('s3: presigned URLs that really expired (a stream cannot be re-sent) fail ESTALE and leave no placeholder', async () => {
    const { emu, vfs } = await policySetup();
    emu.storage.presignTtlMs = -1;
    const data = pseudoRandomBytes(6 * MiB, 9);
    await expectCode(vfs.write('/s3/gone.bin', Readable.from([data]), { size: data.length }), 'ESTALE');
    expect(emu.requests('STORAGE PUT s3').map((e) => e.status)).toContain(403);
    expect(emu.store.find(['s3', 'gone.bin'])).toBeUndefined();
    expect(emu.store.sessions.size).toBe(0);
  }, 60_000);

  it('max_size and a denied suffix are refused before any byte is sent', async () => {
    const { emu, vfs } = await policySetup();
    await vfs.list('/small');
    emu.clearLog();
    await expectCode(vfs.write('/small/big.bin', pseudoRandomBytes(2 * MiB, 1)), 'EFBIG');
    await expectCode(vfs.write('/small/tool.exe', Buffer.from('MZ')), 'EINVAL');
    expect(emu.requests('PUT /file/upload')).toHaveLength(0);
    expect(storageRequests(emu)).toHaveLength(0);
    expect(emu.log.reduce((n, e) => n + e.bytesIn, 0)).toBeLessThan(64 * 1024);
  });

  for (const type of ['s3', 'onedrive', 'oss', 'qiniu', 'remote'] as const) {
    it(`${type}: a failed upload cancels its session and leaves no placeholder; an abort too`, async () => {
      const { emu, vfs } = await policySetup({}, { maxAttempts: 2 });
      const route = type === 'remote' ? 'STORAGE POST remote' : `STORAGE PUT ${type}`;
      emu.injectFault('storage-500', { route, times: 100 });
      await expectCode(vfs.write(`/${type}/fail.bin`, pseudoRandomBytes(6 * MiB, 1)), 'EIO');
      expect(emu.requests('DELETE /file/upload')).toHaveLength(1);
      expect(emu.store.find([type, 'fail.bin'])).toBeUndefined();
      expect(emu.store.sessions.size).toBe(0);
      expect(emu.storage.staged.size).toBe(0);

      const ac = new AbortController();
      emu.clearLog();
      emu.settings.latencyMs = 50;
      const source = Readable.from((async function* () {
        yield pseudoRandomBytes(5 * MiB, 2);
        ac.abort();
        yield pseudoRandomBytes(5 * MiB, 3);
      })());
      await expectCode(vfs.write(`/${type}/abort.bin`, source, { size: 10 * MiB, signal: ac.signal }), 'ECANCELED');
      expect(emu.store.find([type, 'abort.bin'])).toBeUndefined();
      expect(emu.store.sessions.size).toBe(0);
    }, 60_000);
  }

  it('the storage refuses what the server would: a wrong ETag or missing part in Complete, a second Authorization, a changed length', async () => {
    const { emu, vfs } = await policySetup();
    // Drive the flow by hand through the client to reach the storage with bad requests.
    const session = await vfs.client.createUploadSession({ uri: 'cloudreve://my/s3/raw.bin', size: 6 * MiB });
    const [p1, p2] = session.upload_urls!;
    const one = Buffer.alloc(5 * MiB, 1);
    const two = Buffer.alloc(MiB, 2);
    expect((await fetch(p1!, { method: 'PUT', body: one, headers: { Authorization: 'Bearer x' } })).status).toBe(400);
    expect((await fetch(p1!, { method: 'PUT', body: one.subarray(1) })).status).toBe(403);
    const e1 = (await fetch(p1!, { method: 'PUT', body: one })).headers.get('etag')!;
    const e2 = (await fetch(p2!, { method: 'PUT', body: two })).headers.get('etag')!;
    const complete = (xml: string) => fetch(session.completeURL!, { method: 'POST', body: xml });
    expect((await complete('<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"nope"</ETag></Part></CompleteMultipartUpload>')).status).toBe(400);
    expect((await complete('not xml')).status).toBe(400);
    // Only part 1: the object is 5 MiB, the callback then refuses the size.
    expect((await complete(`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>${e1}</ETag></Part></CompleteMultipartUpload>`)).status).toBe(200);
    expect(emu.store.find(['s3', 'raw.bin'])?.entity).toBeUndefined();
    const cb = await fetch(`${emu.url}/api/v4/callback/s3/${session.session_id}/${session.callback_secret}`);
    expect(cb.status).toBe(400);
    expect((await complete(`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>${e1}</ETag></Part><Part><PartNumber>2</PartNumber><ETag>${e2}</ETag></Part></CompleteMultipartUpload>`)).status).toBe(200);
    // The object exists at the storage, but the file only once the callback ran.
    expect(emu.store.find(['s3', 'raw.bin'])?.entity).toBeUndefined();
    expect((await fetch(`${emu.url}/api/v4/callback/s3/${session.session_id}/wrong`)).status).toBe(401);
    expect((await fetch(`${emu.url}/api/v4/callback/s3/${session.session_id}/${session.callback_secret}`)).status).toBe(200);
    expect(emu.store.find(['s3', 'raw.bin'])?.entity?.data.length).toBe(6 * MiB);
  });

  it('upyun: a file over the form limit (held in memory whole) is EFBIG and its session cancelled, no byte read', async () => {
    const { emu, vfs } = await policySetup({ quota: 4 * 1024 * MiB });
    let pulled = 0;
    const source = (async function* () {
      pulled++;
      yield Buffer.alloc(1);
    })();
    await expectCode(vfs.write('/upyun/huge.bin', source, { size: 1024 * MiB + 1 }), 'EFBIG');
    expect(pulled).toBe(0);
    expect(storageRequests(emu)).toHaveLength(0);
    expect(emu.requests('DELETE /file/upload')).toHaveLength(1);
    expect(emu.store.find(['upyun', 'huge.bin'])).toBeUndefined();
  });
});
