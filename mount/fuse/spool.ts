/**
 * A spool file: the local copy of one file being written through the mount. It takes random writes,
 * appends and truncates at local-disk speed, is read back by readers of the same path, and is
 * streamed to the Vfs on flush. Its sidecar (sidecar.ts) records what it is for, so nothing is lost
 * when an upload fails or the process dies.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { toVfsError } from '../../src/errors.js';
import { redact } from '../../src/redact.js';
import { iterateBytes } from '../../src/streams.js';
import { spoolFiles, writeSidecar } from './sidecar.js';
import type { SpoolSidecar } from './sidecar.js';

export interface SpoolOwner {
  /** Vfs path the content is for. */
  path: string;
  vfsName: string;
  remote?: string;
}

export class SpoolFile {
  /** Bytes in the spool (tracked here so getattr needs no syscall). */
  size = 0;
  private sidecar: SpoolSidecar;

  private constructor(
    readonly dir: string,
    private readonly fh: FileHandle,
    sidecar: SpoolSidecar,
  ) {
    this.sidecar = sidecar;
  }

  /** Create an empty spool file (mode 0600) and its sidecar in `dir`. */
  static async create(dir: string, owner: SpoolOwner): Promise<SpoolFile> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const id = randomUUID();
    const fh = await open(spoolFiles(dir, id).data, 'w+', 0o600);
    const now = new Date().toISOString();
    const sidecar: SpoolSidecar = {
      version: 1, id, path: owner.path, vfsName: owner.vfsName, state: 'open', dirty: false,
      pid: process.pid, createdAt: now, updatedAt: now,
    };
    if (owner.remote !== undefined) sidecar.remote = owner.remote;
    const spool = new SpoolFile(dir, fh, sidecar);
    try {
      await writeSidecar(dir, sidecar);
    } catch (e) {
      await spool.remove();
      throw e;
    }
    return spool;
  }

  get id(): string {
    return this.sidecar.id;
  }

  /** Path of the spool data file. */
  get file(): string {
    return spoolFiles(this.dir, this.id).data;
  }

  /** Copy a stream (the existing remote content) into the spool from offset 0, chunk by chunk. */
  async fillFrom(stream: Readable): Promise<void> {
    let at = 0;
    for await (const chunk of iterateBytes(stream)) {
      let done = 0;
      while (done < chunk.length) {
        const { bytesWritten } = await this.fh.write(chunk, done, chunk.length - done, at + done);
        done += bytesWritten;
      }
      at += chunk.length;
    }
    this.size = Math.max(this.size, at);
  }

  /** Read up to `length` bytes at `position` straight into `buf`; returns the count. */
  async read(buf: Buffer, length: number, position: number): Promise<number> {
    const want = Math.min(length, this.size - position);
    if (want <= 0) return 0;
    let done = 0;
    while (done < want) {
      const { bytesRead } = await this.fh.read(buf, done, want - done, position + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done;
  }

  /** Write `length` bytes of `buf` at `position`. */
  async write(buf: Buffer, length: number, position: number): Promise<void> {
    let done = 0;
    while (done < length) {
      const { bytesWritten } = await this.fh.write(buf, done, length - done, position + done);
      done += bytesWritten;
    }
    this.size = Math.max(this.size, position + length);
  }

  /** Cut or extend (with zeros) to `size` bytes. */
  async truncate(size: number): Promise<void> {
    await this.fh.truncate(size);
    this.size = size;
  }

  /** A fresh stream of the whole content, for an upload (a second fd, so writes may go on). */
  readStream(): Readable {
    if (this.size === 0) return createReadStream(this.file, { start: 0, end: -1, highWaterMark: 1 << 20 });
    return createReadStream(this.file, { start: 0, end: this.size - 1, highWaterMark: 1 << 20 });
  }

  /** Record in the sidecar whether the spool holds bytes the remote lacks (and the mtime to give them). */
  async setDirty(dirty: boolean, mtime?: Date): Promise<void> {
    const wantMtime = mtime?.toISOString();
    if (this.sidecar.dirty === dirty && this.sidecar.mtime === wantMtime && this.sidecar.state === 'open') return;
    this.sidecar = { ...this.sidecar, dirty, state: 'open', updatedAt: new Date().toISOString() };
    if (wantMtime) this.sidecar.mtime = wantMtime;
    else delete this.sidecar.mtime;
    delete this.sidecar.error;
    await writeSidecar(this.dir, this.sidecar);
  }

  /** The Vfs path changed (rename while open): the sidecar must follow. */
  async setPath(path: string): Promise<void> {
    this.sidecar = { ...this.sidecar, path, updatedAt: new Date().toISOString() };
    await writeSidecar(this.dir, this.sidecar);
  }

  /** Give up on uploading for now: close the file and mark it failed, keeping the bytes for a retry. */
  async keep(error: unknown): Promise<void> {
    const e = toVfsError(error);
    this.sidecar = {
      ...this.sidecar, state: 'failed', dirty: true, updatedAt: new Date().toISOString(),
      error: { code: e.code, message: redact(e.message).slice(0, 500) },
    };
    await writeSidecar(this.dir, this.sidecar);
    await this.fh.close().catch(() => undefined);
  }

  /** Close and delete the spool and its sidecar (the content is safely uploaded, or unwanted). */
  async remove(): Promise<void> {
    await this.fh.close().catch(() => undefined);
    const files = spoolFiles(this.dir, this.id);
    await unlink(files.data).catch(() => undefined);
    await unlink(files.sidecar).catch(() => undefined);
  }
}
