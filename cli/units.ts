/**
 * Human units both ways: sizes ("10M", "1.5GiB"), durations ("90s", "2h", "7d") and ages (a duration,
 * or a date), and how figures are printed (3 significant digits: "709.7 B/s" is "710 B/s").
 */
import { InvalidArgumentError } from 'commander';

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/** "1024", "10k", "1.5M", "2GiB", "3G" (binary units, as rclone; a bare number is bytes). */
export function parseSize(value: string): number {
  // Bounded, anchored and without nested quantifiers: linear on any input.
  const m = /^(\d{1,15}(?:\.\d{1,6})?)\s?([bkmgtp]?)(?:i?b)?$/i.exec(value.trim());
  if (!m) throw new InvalidArgumentError(`expected a size such as 512k, 10M or 1.5G, got ${JSON.stringify(value)}`);
  return Math.round(Number(m[1]) * SIZE_UNITS[m[2]!.toLowerCase()]!);
}

const DURATION_UNITS: Record<string, number> = {
  ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000, M: 30 * 86_400_000, y: 365 * 86_400_000,
};

/** "500ms", "10s", "5m", "2h", "7d", "2w", "1M" (30 days), "1y", or a combination "1h30m"; a bare number is seconds. */
export function parseDurationMs(value: string): number {
  const text = value.trim();
  if (/^\d{1,12}(?:\.\d{1,6})?$/.test(text)) return Number(text) * 1000;
  let total = 0;
  let rest = text;
  if (rest.length === 0 || rest.length > 64) throw badDuration(value);
  while (rest.length > 0) {
    const m = /^(\d{1,12}(?:\.\d{1,6})?)(ms|s|m|h|d|w|M|y)/.exec(rest);
    if (!m) throw badDuration(value);
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return total;
}

function badDuration(value: string): InvalidArgumentError {
  return new InvalidArgumentError(`expected a duration such as 30s, 10m, 2h or 7d, got ${JSON.stringify(value)}`);
}

/** `--max-age`/`--min-age`: a duration, or a date/time (ISO, "2026-01-31") meaning "since then". */
export function parseAgeMs(value: string, now = Date.now()): number {
  if (/^\d{4}-\d\d-\d\d/.test(value)) {
    const at = Date.parse(value);
    if (Number.isNaN(at)) throw new InvalidArgumentError(`not a date: ${JSON.stringify(value)}`);
    return Math.max(0, now - at);
  }
  return parseDurationMs(value);
}

/** 0 B, 999 B, 1.5 KiB, 12.3 MiB, 123 GiB. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  let v = Math.max(0, n);
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  if (i === 0) return `${Math.round(v)} B`;
  return `${v >= 100 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

/** A rate: "710 B/s", "1.2 MiB/s". */
export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond)}/s`;
}

/** "0.4 s", "12 s", "3m05s", "2h03m". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  const s = ms / 1000;
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 60) return `${Math.round(s)} s`;
  const total = Math.round(s);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = total % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(sec).padStart(2, '0')}s`;
}
