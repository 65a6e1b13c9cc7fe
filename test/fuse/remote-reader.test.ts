/** RemoteReader (the FUSE read path without a spool): out-of-order kernel pieces from ONE stream. */
import { describe, expect, it } from 'vitest';
import { MemoryVfs } from '../../adapters/memory/index.js';
import { RemoteReader } from '../../mount/fuse/remote-reader.js';
import type { ReadOptions } from '../../src/vfs.js';
import { pseudoRandomBytes } from '../helpers.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** MemoryVfs that records every `read` it is asked for. */
class CountingReads extends MemoryVfs {
  opens: ReadOptions[] = [];
  override async read(path: string, options: ReadOptions = {}) {
    this.opens.push(options);
    return super.read(path, options);
  }
}

async function setup(size: number) {
  const vfs = new CountingReads();
  const data = pseudoRandomBytes(size, 7);
  await vfs.write('/f.bin', data);
  vfs.opens = [];
  return { vfs, data, reader: new RemoteReader(vfs, '/f.bin') };
}

async function piece(reader: RemoteReader, offset: number, length = 128 * KiB): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  const n = await reader.read(buf, length, offset);
  return buf.subarray(0, n);
}

describe('RemoteReader', () => {
  it('pieces arriving out of order, as the kernel read-ahead sends them, come from one stream with the right bytes', async () => {
    const { vfs, data, reader } = await setup(8 * MiB + 3000);
    // The order a `cat` showed over fuse-native: steps back and jumps ahead within a few MiB.
    const order: number[] = [];
    for (let base = 0; base < data.length; base += 1 * MiB) {
      for (const k of [0, 3, 2, 1, 5, 4, 7, 6]) order.push(base + k * 128 * KiB);
    }
    for (const offset of order) {
      const got = await piece(reader, offset);
      expect(got.equals(data.subarray(offset, offset + 128 * KiB))).toBe(true);
    }
    expect(vfs.opens).toHaveLength(1);
    reader.close();
  });

  it('when the first piece to arrive is not the first of the file, the stream still starts at 0 and the earlier pieces come from it', async () => {
    const { vfs, data, reader } = await setup(3 * MiB);
    for (const offset of [128 * KiB, 0, 384 * KiB, 256 * KiB]) {
      expect((await piece(reader, offset)).equals(data.subarray(offset, offset + 128 * KiB))).toBe(true);
    }
    expect(vfs.opens.map((o) => o.offset)).toEqual([0]);
    reader.close();
  });

  it('a real seek (far back or far ahead) opens a new stream at that offset; the end of file reads 0', async () => {
    const { vfs, data, reader } = await setup(20 * MiB);
    expect((await piece(reader, 0)).equals(data.subarray(0, 128 * KiB))).toBe(true);
    expect((await piece(reader, 15 * MiB)).equals(data.subarray(15 * MiB, 15 * MiB + 128 * KiB))).toBe(true);
    expect((await piece(reader, 1 * MiB)).equals(data.subarray(1 * MiB, 1 * MiB + 128 * KiB))).toBe(true);
    expect(vfs.opens.map((o) => o.offset)).toEqual([0, 15 * MiB, 1 * MiB]);
    expect((await piece(reader, 20 * MiB - 100)).length).toBe(100);
    expect((await piece(reader, 20 * MiB)).length).toBe(0);
    reader.close();
  });
});
