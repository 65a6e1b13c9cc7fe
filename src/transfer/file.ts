/**
 * One file from a source to a destination path: streamed with byte counting for progress, held to the
 * run's bandwidth budget, server-side when both ends are one Vfs that can copy.
 */
import { Transform } from 'node:stream';
import type { Readable } from 'node:stream';
import type { Entry, Vfs } from '../vfs.js';
import type { BandwidthLimit } from './bandwidth.js';

/** What a transfer reports as it goes (the CLI's progress display implements it). */
export interface TransferObserver {
  /** The plan is known (called again when checksum comparisons add files). */
  planned?(totals: { files: number; bytes: number; checks: number }): void;
  /** A file starts; `label` identifies it until `endFile` (several may be in flight). */
  startFile(label: string, size: number | undefined): void;
  /** `n` more bytes of `label` moved. */
  advance(label: string, n: number): void;
  /** `label` is done, or failed with `error`. */
  endFile(label: string, error?: unknown): void;
  /** A destination file or folder was deleted (sync). */
  deleted?(label: string): void;
}

/** Where bytes come from: a file of a Vfs, or a stream (standard input, a FIFO) of unknown length. */
export type FileSource =
  | { vfs: Vfs; entry: Entry }
  | { stream: Readable; size?: number; mtime?: Date; name: string };

export interface FileTransferOptions {
  label?: string;
  observer?: TransferObserver | undefined;
  bandwidth?: BandwidthLimit | undefined;
  signal?: AbortSignal | undefined;
}

/** Copy one file; resolves with the destination's new entry. */
export async function transferFile(source: FileSource, dst: { vfs: Vfs; path: string }, options: FileTransferOptions = {}): Promise<Entry> {
  const { observer, signal } = options;
  const label = options.label ?? ('entry' in source ? source.entry.path : source.name);
  const size = 'entry' in source ? source.entry.size : source.size;
  observer?.startFile(label, size);
  try {
    let done: Entry;
    if ('entry' in source && source.vfs === dst.vfs && source.vfs.capabilities.serverSideCopy) {
      done = await source.vfs.copy(source.entry.path, dst.path, { overwrite: source.entry.type === 'file', signal });
      observer?.advance(label, source.entry.size);
    } else {
      const input = 'entry' in source ? await source.vfs.read(source.entry.path, { signal }) : source.stream;
      const counter = new Transform({
        transform(chunk: Buffer, _enc, next) {
          observer?.advance(label, chunk.length);
          next(null, chunk);
        },
      });
      let body: Readable = input;
      const stages: Transform[] = options.bandwidth ? [options.bandwidth.throttle(signal), counter] : [counter];
      for (const stage of stages) {
        body.on('error', (e) => stage.destroy(e));
        body = body.pipe(stage);
      }
      const mtime = 'entry' in source ? source.entry.mtime : source.mtime;
      done = await dst.vfs.write(dst.path, body, { ...(size !== undefined ? { size } : {}), ...(mtime ? { mtime } : {}), signal });
    }
    observer?.endFile(label);
    return done;
  } catch (e) {
    observer?.endFile(label, e);
    throw e;
  }
}
