/**
 * The queue journal: how a write-back mount makes a closed small file durable with ONE fdatasync,
 * shared by every close that arrives meanwhile (group commit), instead of fsyncing a data file, a
 * record file and the folder for each (three synchronous disk flushes per close(), which made
 * "create 1000 × 4 KiB" ten times slower than rclone's non-durable cache).
 *
 * One journal file per mount process in the spool folder (`queue-<uuid>.journal`, mode 0600; the
 * folder is fsynced once when it is created): append-only JSON lines, each a full queue record
 * (the SpoolSidecar format, mount/fuse/sidecar.ts) of one id; the newest line of an id wins; `data`
 * (base64) carries the bytes of a small file, and a line without it keeps the newest bytes given
 * before; `removed: true` ends an id. A line torn by a crash fails to parse and is ignored: it was
 * never acknowledged (its fdatasync had not returned). A sidecar FILE of the same id, when one
 * exists, is newer than anything in a journal (a failed upload is kept as a classic spool file).
 *
 * A journal whose process is dead is "materialised" by the next owner (`materializeJournal`):
 * every entry still queued becomes a classic spool file + durable sidecar, then the journal is
 * deleted, so resume, `pending retry` and `pending discard` keep working on plain files.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, stat, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { replaceDurably, spoolFiles, syncDir, writeSidecar } from '../fuse/sidecar.js';
import type { SpoolSidecar } from '../fuse/sidecar.js';

/**
 * Files up to this size go into the journal with their bytes (one fdatasync for data and record);
 * bigger ones keep their own data file (their flush is dominated by the data anyway). 1 MiB: the
 * FUSE mount's in-memory spool limit per file, so an inlined file never needs a disk copy first.
 */
export const JOURNAL_INLINE_MAX_BYTES = 1024 * 1024;

/**
 * A journal grows by every close (a file rewritten while the provider is down adds a line each
 * time): beyond this size it is started afresh — deleted when nothing in it is queued any more, else
 * compacted (the newest line of each queued id copied to a new journal, fsynced, then the old one
 * deleted), so its size stays about what is actually queued.
 */
export const JOURNAL_COMPACT_BYTES = 64 * 1024 * 1024;

/**
 * The journal file is extended with real zeros this much ahead of what it holds: an append then
 * overwrites blocks that already exist, so its fdatasync flushes only those data blocks instead of
 * also committing a new file size to the filesystem's journal (measured here: about half the cost
 * per close). Readers ignore the zero tail (it is not a JSON line).
 */
const PREALLOCATE_BYTES = 4 * 1024 * 1024;

/** How long an end-of-entry line may wait for an fdatasync (see syncSoon). */
const SYNC_SOON_MS = 1000;

export interface JournalLine extends Partial<SpoolSidecar> {
  id: string;
  /** The file's bytes, base64 (small files). */
  data?: string;
  removed?: true;
}

/** The live entries of a journal: the newest record of each id, with its newest bytes. */
export interface JournalEntry {
  record: SpoolSidecar;
  data?: Buffer;
}

export class QueueJournal {
  private fh: FileHandle | undefined;
  private opening: Promise<FileHandle> | undefined;
  private file: string | undefined;
  private size = 0;
  /** Bytes of the file that exist (zeros beyond `size`). */
  private allocated = 0;
  /** Lines waiting for the next write, with the callers waiting for them to be durable. */
  private batch: { text: string; sync: boolean; done: (e?: unknown) => void }[] = [];
  private writing: Promise<void> | undefined;
  private soon: NodeJS.Timeout | undefined;
  /** Ids with a live (not removed) entry in the current file. */
  private readonly live = new Set<string>();
  /** Lines written and fdatasyncs run so far (group commit: far fewer syncs than lines under load). */
  readonly stats = { lines: 0, syncs: 0 };

  constructor(readonly dir: string, private readonly compactBytes = JOURNAL_COMPACT_BYTES) {}

  /**
   * Append a record line; with `sync` resolves once it (and everything before it) is on disk. Calls
   * that arrive while a flush runs share the next one.
   */
  append(line: JournalLine, options: { sync: boolean | 'soon' }): Promise<void> {
    if (line.removed) this.live.delete(line.id);
    else this.live.add(line.id);
    if (options.sync === 'soon') this.syncSoon();
    return this.enqueue(JSON.stringify(line) + '\n', options.sync === true);
  }

  private enqueue(text: string, sync: boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      this.batch.push({ text, sync, done: (e) => (e ? reject(e) : resolve()) });
      this.writing ??= this.flush();
    });
  }

  /**
   * 'soon': durable within SYNC_SOON_MS, by the next close's fdatasync or a timer's. For end-of-entry
   * lines: losing one in a crash only re-offers an uploaded file, which the version check then turns
   * into a conflict copy, so it need not cost a flush of its own while closes are flushing anyway.
   */
  private syncSoon(): void {
    if (this.soon) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      void this.enqueue('', true).catch(() => undefined);
    }, SYNC_SOON_MS);
    this.soon.unref?.();
  }

  private async flush(): Promise<void> {
    try {
      while (this.batch.length > 0) {
        const batch = this.batch;
        this.batch = [];
        try {
          const fh = await this.handle();
          const buf = Buffer.from(batch.map((b) => b.text).join(''));
          if (this.size + buf.length > this.allocated) await this.extend(fh, this.size + buf.length);
          let done = 0;
          while (done < buf.length) done += (await fh.write(buf, done, buf.length - done, this.size + done)).bytesWritten;
          this.size += buf.length;
          this.stats.lines += batch.filter((b) => b.text).length;
          if (batch.some((b) => b.sync)) {
            await fh.datasync();
            this.stats.syncs++;
          }
          for (const b of batch) b.done();
        } catch (e) {
          for (const b of batch) b.done(e);
        }
        if (this.size > this.compactBytes) {
          if (this.live.size === 0) await this.rotate();
          else await this.compact().catch(() => undefined); // a full disk: keep appending to the old one
        }
      }
    } finally {
      this.writing = undefined;
    }
  }

  /** Zeros up to `end` and PREALLOCATE_BYTES beyond (the size change is made durable by the caller's fdatasync). */
  private async extend(fh: FileHandle, end: number): Promise<void> {
    const target = end + PREALLOCATE_BYTES;
    const zeros = Buffer.alloc(Math.min(1024 * 1024, target - this.allocated));
    for (let at = this.allocated; at < target; ) {
      const n = Math.min(zeros.length, target - at);
      at += (await fh.write(zeros, 0, n, at)).bytesWritten;
    }
    this.allocated = target;
  }

  /** Nothing queued any more and the file is large: delete it; the next append starts a new one. */
  private async rotate(): Promise<void> {
    const fh = this.fh;
    const file = this.file;
    this.fh = undefined;
    this.opening = undefined;
    this.file = undefined;
    this.size = 0;
    await fh?.close().catch(() => undefined);
    if (file) {
      openJournals.delete(file);
      await unlink(file).catch(() => undefined);
    }
  }

  /** Copy the newest line of each queued id (with its bytes) to a new journal, durable, then delete the old one. */
  private async compact(): Promise<void> {
    const old = this.file;
    if (!old) return;
    const entries = (await readJournal(this.dir, old)).filter((e) => this.live.has(e.record.id));
    const text = entries.map((e) => JSON.stringify(e.data ? { ...e.record, data: e.data.toString('base64') } : e.record) + '\n').join('');
    const oldFh = this.fh;
    const [oldSize, oldAllocated] = [this.size, this.allocated];
    this.fh = undefined;
    this.opening = undefined;
    this.file = undefined;
    let fh: FileHandle;
    try {
      fh = await this.handle();
      const buf = Buffer.from(text);
      await this.extend(fh, this.size + buf.length);
      let done = 0;
      while (done < buf.length) done += (await fh.write(buf, done, buf.length - done, this.size + done)).bytesWritten;
      this.size += buf.length;
      await fh.datasync();
      this.stats.syncs++;
    } catch (e) {
      // Back to the old journal, which still holds everything.
      const failed = this.file;
      await (this.fh as FileHandle | undefined)?.close().catch(() => undefined);
      if (failed) {
        openJournals.delete(failed);
        await unlink(failed).catch(() => undefined);
      }
      this.fh = oldFh;
      this.opening = undefined;
      this.file = old;
      this.size = oldSize;
      this.allocated = oldAllocated;
      throw e;
    }
    openJournals.delete(old);
    await oldFh?.close().catch(() => undefined);
    await unlink(old).catch(() => undefined);
  }

  private handle(): Promise<FileHandle> {
    if (this.fh) return Promise.resolve(this.fh);
    this.opening ??= (async () => {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      const file = join(this.dir, `queue-${randomUUID()}.journal`);
      const fh = await open(file, 'wx', 0o600);
      // The first line names the owner, so another process can tell a dead journal from a live one.
      const head = Buffer.from(JSON.stringify({ journal: 1, pid: process.pid, createdAt: new Date().toISOString() }) + '\n');
      try {
        await fh.write(head, 0, head.length, 0);
        await fh.datasync();
        await syncDir(this.dir); // the journal's name: once per file, not once per close
      } catch (e) {
        await fh.close().catch(() => undefined);
        await unlink(file).catch(() => undefined);
        throw e;
      }
      this.size = head.length;
      this.allocated = head.length;
      this.file = file;
      openJournals.add(file);
      this.fh = fh;
      return fh;
    })().catch((e: unknown) => {
      this.opening = undefined;
      throw e;
    });
    return this.opening;
  }

  /**
   * Close (unmount): what is still queued becomes plain spool files, exactly what a mount without a
   * journal leaves behind, and the journal is deleted.
   */
  async close(): Promise<void> {
    clearTimeout(this.soon);
    this.soon = undefined;
    if (this.fh) await this.enqueue('', true).catch(() => undefined);
    while (this.writing) await this.writing;
    const file = this.file;
    const live = this.live.size > 0;
    await this.fh?.close().catch(() => undefined);
    this.fh = undefined;
    this.opening = undefined;
    this.file = undefined;
    this.size = 0;
    this.live.clear();
    if (!file) return;
    openJournals.delete(file);
    if (live) await materializeJournal(this.dir, file);
    else await unlink(file).catch(() => undefined);
  }
}

/** Journals open in this process: never someone else's to materialise, whatever their pid says. */
const openJournals = new Set<string>();

/** The journals in `dir` with their owner pid. */
export async function journalFiles(dir: string): Promise<{ file: string; pid: number }[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const out: { file: string; pid: number }[] = [];
  for (const name of names) {
    if (!/^queue-[0-9a-f-]{36}\.journal$/.test(name)) continue;
    const file = join(dir, name);
    const fh = await open(file, 'r').catch(() => undefined);
    if (!fh) continue;
    try {
      const head = Buffer.alloc(256);
      const { bytesRead } = await fh.read(head, 0, head.length, 0);
      const first = head.subarray(0, bytesRead).toString('utf8').split('\n')[0]!;
      const parsed = JSON.parse(first) as { journal?: number; pid?: number };
      if (parsed.journal === 1 && typeof parsed.pid === 'number') out.push({ file, pid: parsed.pid });
    } catch {
      // not a journal (or its head was torn before it was ever used)
    } finally {
      await fh.close();
    }
  }
  return out;
}

/** The live entries of one journal file (torn or foreign lines ignored; a sidecar file of the same id wins). */
export async function readJournal(dir: string, file: string): Promise<JournalEntry[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const records = new Map<string, SpoolSidecar>();
  const data = new Map<string, string>();
  for (const raw of text.split('\n').slice(1)) {
    if (!raw) continue;
    let line: JournalLine;
    try {
      line = JSON.parse(raw) as JournalLine;
    } catch {
      continue;
    }
    if (typeof line.id !== 'string' || !/^[A-Za-z0-9-]{1,64}$/.test(line.id)) continue;
    if (line.removed) {
      records.delete(line.id);
      data.delete(line.id);
      continue;
    }
    const { data: bytes, removed: _r, ...record } = line;
    if (record.version !== 1 || typeof record.path !== 'string') continue;
    records.set(line.id, record as SpoolSidecar);
    if (bytes !== undefined) data.set(line.id, bytes);
  }
  const out: JournalEntry[] = [];
  for (const [id, record] of records) {
    if (await stat(spoolFiles(dir, id).sidecar).then(() => true, () => false)) continue;
    const bytes = data.get(id);
    out.push(bytes !== undefined ? { record, data: Buffer.from(bytes, 'base64') } : { record });
  }
  return out;
}

/**
 * Turn a dead process's journal into classic spool files (data + durable sidecar) and delete it, so
 * resume, `pending retry` and `pending discard` work on plain files. Entries without bytes in the
 * journal already have their data file. Safe to repeat after a crash half-way (a sidecar file wins).
 */
export async function materializeJournal(dir: string, file: string): Promise<void> {
  for (const { record, data } of await readJournal(dir, file)) {
    if (data) {
      await replaceDurably(spoolFiles(dir, record.id).data, data, { dataOnly: true });
    }
    await writeSidecar(dir, record, { durable: true });
  }
  await unlink(file).catch(() => undefined);
}

/** Materialise every journal in `dir` whose process is gone. */
export async function materializeDeadJournals(dir: string, isAlive: (pid: number) => boolean): Promise<void> {
  for (const { file, pid } of await journalFiles(dir)) {
    if (!isAlive(pid) && !openJournals.has(file)) await materializeJournal(dir, file);
  }
}
