/**
 * Reads of a file that has no spool go to the Vfs. The kernel asks in pieces of at most 128 KiB;
 * opening a ranged stream per piece would cost one request each, so a handle keeps ONE open stream
 * and serves consecutive pieces from it, reopening only when the reader seeks. Bytes are copied once,
 * from the stream's chunk straight into the buffer fuse-native hands us.
 */
import type { Readable } from 'node:stream';
import type { Vfs } from '../../src/vfs.js';

/** A forward gap up to this size is skipped by reading on, instead of opening a new stream. */
const MAX_SKIP_BYTES = 1 << 20;

export class RemoteReader {
  private stream: Readable | undefined;
  private iterator: AsyncIterator<Buffer> | undefined;
  private leftover: Buffer | undefined;
  private position = 0;
  private eof = false;
  /** Reads of one handle run one at a time, in arrival order (the kernel may send read-ahead in parallel). */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly vfs: Vfs, private path: string) {}

  /** The file moved (rename while open). */
  setPath(path: string): void {
    if (path !== this.path) {
      this.path = path;
      this.close();
    }
  }

  /** Fill `buf` with up to `length` bytes from `offset`; resolves to the count (0 at end of file). */
  read(buf: Buffer, length: number, offset: number): Promise<number> {
    const run = this.queue.then(() => this.readNow(buf, length, offset));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Drop the open stream (release, or an error). */
  close(): void {
    this.stream?.destroy();
    this.stream = this.iterator = this.leftover = undefined;
    this.eof = false;
  }

  private async readNow(buf: Buffer, length: number, offset: number): Promise<number> {
    if (!this.iterator || offset < this.position || offset - this.position > MAX_SKIP_BYTES) {
      await this.open(offset);
    } else if (offset > this.position) {
      await this.skip(offset - this.position);
    }
    let filled = 0;
    try {
      while (filled < length) {
        let chunk = this.leftover;
        this.leftover = undefined;
        if (!chunk) {
          if (this.eof) break;
          const next = await this.iterator!.next();
          if (next.done) {
            this.eof = true;
            break;
          }
          chunk = next.value;
        }
        const n = Math.min(length - filled, chunk.length);
        chunk.copy(buf, filled, 0, n);
        filled += n;
        if (n < chunk.length) this.leftover = chunk.subarray(n);
      }
    } catch (e) {
      this.close();
      throw e;
    }
    this.position += filled;
    return filled;
  }

  private async open(offset: number): Promise<void> {
    this.close();
    const stream = await this.vfs.read(this.path, { offset });
    this.stream = stream;
    this.iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    this.position = offset;
  }

  private async skip(bytes: number): Promise<void> {
    let left = bytes;
    while (left > 0) {
      let chunk = this.leftover;
      this.leftover = undefined;
      if (!chunk) {
        if (this.eof) break;
        const next = await this.iterator!.next();
        if (next.done) {
          this.eof = true;
          break;
        }
        chunk = next.value;
      }
      if (chunk.length > left) this.leftover = chunk.subarray(left);
      left -= Math.min(left, chunk.length);
    }
    this.position += bytes - left;
  }
}
