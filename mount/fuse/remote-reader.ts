/**
 * Reads of a file that has no spool go to the Vfs. The kernel asks in pieces of at most 128 KiB;
 * opening a ranged stream per piece would cost one request each, so a handle keeps ONE open stream
 * and serves the pieces from it, reopening only when the reader really seeks.
 *
 * The kernel's pieces do not arrive in order: its asynchronous read-ahead sends several at once and
 * fuse-native answers them on several threads, so a `cat` shows offsets like 0, 384 K, 256 K, 1.25 M,
 * 2 M… Reopening at every step back (or jump ahead) cost one ranged request per piece, and over a
 * 20 ms link a 100 MiB `cat` ran at 13 MiB/s with 267 requests. So the reader keeps the last
 * `HISTORY_BYTES` it pulled from the stream: a piece behind the stream's position is served from
 * them, and a piece up to `MAX_SKIP_BYTES` ahead is reached by pulling on (keeping what it passes).
 */
import { finished } from 'node:stream';
import type { Readable } from 'node:stream';
import type { Vfs } from '../../src/vfs.js';

/** A forward gap up to this size is reached by reading on, instead of opening a new stream. */
const MAX_SKIP_BYTES = 4 << 20;
/** Bytes kept behind the stream's position for pieces that arrive late (bounded memory per handle). */
const HISTORY_BYTES = 4 << 20;
/** A first read below this offset opens the stream at 0 (see open). */
const NEAR_START_BYTES = 1 << 20;

/** Chunks a puller holds before it pauses the stream (backpressure). */
const PULL_AHEAD_CHUNKS = 4;

/**
 * The chunks of a Readable one by one, exactly as they were pushed. (A Readable's async iterator
 * calls `read()`, which concatenates everything buffered into a fresh Buffer: a copy and an
 * allocation of every byte, and garbage that raises the mount's peak RSS while copying big files.)
 */
class ChunkPuller {
  private readonly chunks: Buffer[] = [];
  private ended = false;
  private error: unknown;
  private wake: (() => void) | undefined;

  constructor(private readonly stream: Readable) {
    stream.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      if (this.chunks.length >= PULL_AHEAD_CHUNKS) stream.pause();
      this.notify();
    });
    finished(stream, (err) => {
      if (err) this.error = err;
      else this.ended = true;
      this.notify();
    });
  }

  /** The next chunk, or undefined at the end of the stream; rejects with the stream's error. */
  async next(): Promise<Buffer | undefined> {
    for (;;) {
      const chunk = this.chunks.shift();
      if (chunk) {
        if (this.chunks.length < PULL_AHEAD_CHUNKS && this.stream.isPaused() && !this.stream.destroyed) this.stream.resume();
        return chunk;
      }
      if (this.error) throw this.error;
      if (this.ended) return undefined;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

export class RemoteReader {
  private stream: Readable | undefined;
  private iterator: ChunkPuller | undefined;
  /** Chunks pulled from the stream, covering [historyStart, position) without gaps. */
  private history: Buffer[] = [];
  private historyStart = 0;
  private historyBytes = 0;
  /** File offset of the next byte the stream will yield. */
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

  /** Drop the open stream and what it kept (release, or an error). */
  close(): void {
    this.stream?.destroy();
    this.stream = this.iterator = undefined;
    this.history = [];
    this.historyBytes = 0;
    this.eof = false;
  }

  private async readNow(buf: Buffer, length: number, offset: number): Promise<number> {
    if (!this.iterator || offset < this.historyStart || offset > this.position + MAX_SKIP_BYTES) await this.open(offset);
    try {
      // Pull until the piece is covered (or the file ends); every pulled chunk joins the history.
      while (this.position < offset + length && !this.eof) {
        const next = await this.iterator!.next();
        if (!next) {
          this.eof = true;
          break;
        }
        this.keep(next, offset);
      }
    } catch (e) {
      this.close();
      throw e;
    }
    return this.copyOut(buf, offset, Math.min(length, Math.max(0, this.position - offset)));
  }

  private async open(offset: number): Promise<void> {
    this.close();
    // The kernel's first pieces of a file may arrive out of order (128 K before 0): a stream opened
    // near the start begins AT the start, so the late pieces are served from it, not by a reopen.
    const start = offset < NEAR_START_BYTES ? 0 : offset;
    const stream = await this.vfs.read(this.path, { offset: start });
    this.stream = stream;
    this.iterator = new ChunkPuller(stream);
    this.position = this.historyStart = start;
  }

  /** Add a pulled chunk; drop the oldest chunks beyond the history bound (never those the current piece needs). */
  private keep(chunk: Buffer, needFrom: number): void {
    this.history.push(chunk);
    this.historyBytes += chunk.length;
    this.position += chunk.length;
    while (this.history.length > 1 && this.historyBytes - this.history[0]!.length >= HISTORY_BYTES) {
      const first = this.history[0]!;
      if (this.historyStart + first.length > needFrom) break;
      this.history.shift();
      this.historyBytes -= first.length;
      this.historyStart += first.length;
    }
  }

  /** Copy `count` bytes from `offset` out of the history into `buf` (one copy per byte). */
  private copyOut(buf: Buffer, offset: number, count: number): number {
    let at = this.historyStart;
    let filled = 0;
    for (const chunk of this.history) {
      if (filled >= count) break;
      const end = at + chunk.length;
      if (end > offset + filled) {
        const from = offset + filled - at;
        const n = Math.min(chunk.length - from, count - filled);
        chunk.copy(buf, filled, from, from + n);
        filled += n;
      }
      at = end;
    }
    return filled;
  }
}
