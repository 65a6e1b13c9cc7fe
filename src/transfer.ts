/**
 * Copy and move between any two Vfs locations (local disk or remotes), streamed, recursively on
 * request, with server-side copy/rename when both ends are the same Vfs.
 */
import { Transform } from 'node:stream';
import { VfsError, isVfsError } from './errors.js';
import { joinPath } from './path.js';
import type { Entry, Vfs } from './vfs.js';

/** What a transfer reports as it goes (the CLI's progress bar implements it). */
export interface Progress {
  /** Announce a file of `size` bytes (undefined when unknown). */
  startFile(label: string, size: number | undefined): void;
  /** `n` more bytes moved. */
  advance(n: number): void;
  /** The current file is done. */
  endFile(): void;
  /** All done. */
  finish(): void;
}

/** One end of a transfer: a Vfs and a path in it. */
export interface Endpoint {
  vfs: Vfs;
  path: string;
}

export interface TransferOptions {
  recursive?: boolean;
  progress: Progress;
  signal?: AbortSignal;
}

/**
 * Like cp(1): when `dst` is an existing directory the source goes inside it under its own name.
 * Returns the final destination path.
 */
export async function resolveTarget(src: Entry, dst: Endpoint): Promise<string> {
  try {
    const existing = await dst.vfs.stat(dst.path);
    if (existing.type === 'directory') return joinPath(dst.path, src.name || 'root');
  } catch (e) {
    if (!isVfsError(e, 'ENOENT')) throw e;
  }
  return dst.path;
}

/** Copy `src` to `dst` (file or, with `recursive`, a directory tree). */
export async function copyPath(src: Endpoint, dst: Endpoint, options: TransferOptions): Promise<void> {
  const entry = await src.vfs.stat(src.path);
  if (entry.type === 'directory' && !options.recursive) {
    throw new VfsError('EISDIR', `${src.path} is a directory (use -r to copy it)`, { path: src.path });
  }
  const target = await resolveTarget(entry, dst);
  if (src.vfs === dst.vfs && src.vfs.capabilities.serverSideCopy) {
    options.progress.startFile(entry.path, entry.type === 'file' ? entry.size : undefined);
    await src.vfs.copy(entry.path, target, { overwrite: entry.type === 'file', signal: options.signal });
    options.progress.advance(entry.size);
    options.progress.endFile();
    return;
  }
  await copyEntry(src.vfs, entry, dst.vfs, target, options);
}

async function copyEntry(from: Vfs, entry: Entry, to: Vfs, target: string, options: TransferOptions): Promise<void> {
  if (entry.type === 'file') {
    await copyFile(from, entry, to, target, options);
    return;
  }
  try {
    await to.mkdir(target, { signal: options.signal });
  } catch (e) {
    // Merging into an existing directory is what cp -r does.
    if (!isVfsError(e, 'EEXIST') || (await to.stat(target)).type !== 'directory') throw e;
  }
  for (const child of await from.list(entry.path, { signal: options.signal })) {
    await copyEntry(from, child, to, joinPath(target, child.name), options);
  }
}

async function copyFile(from: Vfs, entry: Entry, to: Vfs, target: string, options: TransferOptions): Promise<void> {
  options.progress.startFile(entry.path, entry.size);
  const source = await from.read(entry.path, { signal: options.signal });
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      options.progress.advance(chunk.length);
      done(null, chunk);
    },
  });
  source.on('error', (e) => counter.destroy(e));
  source.pipe(counter);
  await to.write(target, counter, { size: entry.size, mtime: entry.mtime, signal: options.signal });
  options.progress.endFile();
}

/** Move: a rename when both ends are one Vfs, else copy and then remove the source (only after success). */
export async function movePath(src: Endpoint, dst: Endpoint, options: TransferOptions): Promise<void> {
  const entry = await src.vfs.stat(src.path);
  const target = await resolveTarget(entry, dst);
  if (src.vfs === dst.vfs) {
    await src.vfs.rename(entry.path, target, { overwrite: entry.type === 'file', signal: options.signal });
    return;
  }
  await copyEntry(src.vfs, entry, dst.vfs, target, { ...options, recursive: true });
  await src.vfs.remove(entry.path, { recursive: true, signal: options.signal });
}

