/**
 * Progress of a transfer as a user expects it. On a terminal: one overall line (files done/total,
 * bytes done/total, rate, ETA) with the files in flight under it, redrawn in place. Off a terminal: one
 * summary line per `--stats` interval (never a line per file), and the same summary at the end.
 * `quiet` prints nothing but the errors. Every file's outcome goes to the log (`--log-file`).
 */
import type { TransferObserver } from '../src/transfer.js';
import { formatBytes, formatDuration, formatRate } from './units.js';

export { formatBytes } from './units.js';

export interface ProgressOptions {
  /** Redraw a live block (default: when `stream` is a TTY). */
  tty?: boolean;
  /** Where live output and interval lines go (default stderr). */
  stream?: NodeJS.WriteStream;
  /** Interval lines off a terminal, in ms (0: none; default 60 s). */
  statsIntervalMs?: number;
  quiet?: boolean;
  /** Each finished or failed file, for the log. */
  onFile?: (label: string, bytes: number, error?: unknown) => void;
}

export interface TransferProgress extends TransferObserver {
  /** The overall line as it stands. */
  line(): string;
  /** Stop redrawing and clear the live block (call before printing the summary). */
  stop(): void;
  readonly startedAt: number;
  readonly bytesDone: number;
}

/** Files in flight shown under the overall line. */
const SHOWN_FILES = 4;
const REDRAW_MS = 250;
/** Rate over the last few seconds, so the ETA follows changes without jumping on every chunk. */
const RATE_WINDOW_MS = 5000;

export function createProgress(options: ProgressOptions = {}): TransferProgress {
  const stream = options.stream ?? process.stderr;
  const tty = !options.quiet && (options.tty ?? Boolean(stream.isTTY));
  const startedAt = Date.now();
  let planned = false;
  let totalFiles = 0;
  let totalBytes = 0;
  let checks = 0;
  let filesDone = 0;
  let failed = 0;
  let bytesDone = 0;
  const current = new Map<string, { size: number | undefined; done: number }>();
  const samples: Array<[number, number]> = [[startedAt, 0]];
  let drawn = 0;

  const rate = () => {
    const now = Date.now();
    while (samples.length > 2 && now - samples[1]![0] > RATE_WINDOW_MS) samples.shift();
    const [t0, b0] = samples[0]!;
    const seconds = (now - t0) / 1000;
    return seconds > 0.05 ? (bytesDone - b0) / seconds : 0;
  };
  const line = () => {
    if (!planned) return `Listing files… ${formatDuration(Date.now() - startedAt)}`;
    const r = rate();
    const left = totalBytes - bytesDone;
    const eta = left <= 0 ? '0 s' : r > 0 ? formatDuration((left / r) * 1000) : '-';
    const pct = totalBytes > 0 ? ` (${Math.floor((100 * bytesDone) / totalBytes)}%)` : '';
    return `Transferred ${filesDone}/${totalFiles} files, ${formatBytes(bytesDone)}/${formatBytes(totalBytes)}${pct}, ${formatRate(r)}, ETA ${eta}`
      + (failed ? `, ${failed} failed` : '') + (checks ? `, ${checks} to compare` : '');
  };
  const fileLine = (label: string, f: { size: number | undefined; done: number }) => {
    const width = Math.max(20, (stream.columns ?? 80) - 30);
    const name = label.length <= width ? label : '…' + label.slice(label.length - width + 1);
    const pct = f.size ? `${String(Math.floor((100 * f.done) / f.size)).padStart(3)}%` : '   ?';
    return ` * ${name}: ${pct} ${formatBytes(f.done)}${f.size !== undefined ? '/' + formatBytes(f.size) : ''}`;
  };
  const clear = () => {
    if (drawn > 0) stream.write(`\x1b[${drawn}A\x1b[J`);
    drawn = 0;
  };
  const draw = () => {
    samples.push([Date.now(), bytesDone]);
    const lines = [line(), ...[...current].slice(0, SHOWN_FILES).map(([l, f]) => fileLine(l, f))];
    clear();
    stream.write(lines.map((l) => `\x1b[2K${l}\n`).join(''));
    drawn = lines.length;
  };
  let timer: NodeJS.Timeout | undefined;
  if (tty) timer = setInterval(draw, REDRAW_MS);
  else if (!options.quiet && (options.statsIntervalMs ?? 60_000) > 0) {
    timer = setInterval(() => {
      samples.push([Date.now(), bytesDone]);
      stream.write(line() + '\n');
    }, options.statsIntervalMs ?? 60_000);
  }
  timer?.unref();

  return {
    startedAt,
    get bytesDone() {
      return bytesDone;
    },
    planned(t) {
      planned = true;
      totalFiles = t.files;
      totalBytes = t.bytes;
      checks = t.checks;
      if (tty) draw();
    },
    startFile(label, size) {
      current.set(label, { size, done: 0 });
    },
    advance(label, n) {
      bytesDone += n;
      const f = current.get(label);
      if (f) f.done += n;
    },
    endFile(label, error) {
      const f = current.get(label);
      current.delete(label);
      if (error === undefined) filesDone++;
      else {
        failed++;
        // Bytes of a failed file are not "done": take them back so the total stays honest.
        if (f) bytesDone -= f.done;
      }
      options.onFile?.(label, f?.done ?? 0, error);
    },
    line,
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      if (tty) clear();
    },
  };
}
