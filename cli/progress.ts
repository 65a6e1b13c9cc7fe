/**
 * Progress of long transfers: a live bar (bytes, rate, ETA) from cli-progress when stdout is a
 * terminal, and one plain line per finished file otherwise (logs and pipes stay readable).
 */
import cliProgress from 'cli-progress';

export interface Progress {
  /** Announce a file of `size` bytes (undefined when unknown). */
  startFile(label: string, size: number | undefined): void;
  /** `n` more bytes moved. */
  advance(n: number): void;
  /** The current file is done. */
  endFile(): void;
  /** All done: clear the bar and print the total. */
  finish(): void;
}

export interface ProgressOptions {
  /** Force the live bar on or off (default: on when stdout is a TTY). */
  tty?: boolean;
  /** Where plain lines go. */
  write?: (line: string) => void;
  quiet?: boolean;
}

/** Human-readable byte count: 1.5 MiB. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/** A progress reporter suited to where stdout goes. */
export function createProgress(options: ProgressOptions = {}): Progress {
  const write = options.write ?? ((line: string) => process.stdout.write(line + '\n'));
  const tty = options.tty ?? Boolean(process.stdout.isTTY);
  const started = Date.now();
  let totalBytes = 0;
  let files = 0;
  let fileBytes = 0;
  let fileStart = 0;
  let label = '';

  if (options.quiet) {
    return { startFile() {}, advance(n) { totalBytes += n; }, endFile() { files++; }, finish() {} };
  }

  const bar = tty
    ? new cliProgress.SingleBar(
        {
          format: '{label} |{bar}| {percentage}% {done}/{size} {rate}/s ETA {eta_formatted}',
          hideCursor: true,
          clearOnComplete: true,
          etaBuffer: 20,
          formatValue: (v, _o, type) => (type === 'value' || type === 'total' ? String(v) : String(v)),
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;

  return {
    startFile(name, size) {
      label = name;
      fileBytes = 0;
      fileStart = Date.now();
      bar?.start(size ?? 0, 0, { label: truncate(name, 30), done: formatBytes(0), size: size === undefined ? '?' : formatBytes(size), rate: formatBytes(0) });
    },
    advance(n) {
      fileBytes += n;
      totalBytes += n;
      if (bar) {
        const seconds = Math.max(0.001, (Date.now() - fileStart) / 1000);
        bar.update(fileBytes, { done: formatBytes(fileBytes), rate: formatBytes(fileBytes / seconds) });
      }
    },
    endFile() {
      files++;
      bar?.stop();
      const seconds = Math.max(0.001, (Date.now() - fileStart) / 1000);
      write(`copied ${label} (${formatBytes(fileBytes)} in ${seconds.toFixed(1)} s, ${formatBytes(fileBytes / seconds)}/s)`);
    },
    finish() {
      bar?.stop();
      const seconds = Math.max(0.001, (Date.now() - started) / 1000);
      if (files > 1) write(`${files} files, ${formatBytes(totalBytes)} in ${seconds.toFixed(1)} s (${formatBytes(totalBytes / seconds)}/s)`);
    },
  };
}

function truncate(s: string, n: number): string {
  return s.length <= n ? s.padEnd(n) : '…' + s.slice(s.length - n + 1);
}
