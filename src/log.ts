/**
 * Logging: levels, human-readable text by default or one JSON object per line.
 * Every message and field goes through `redact`, so a token or signed URL cannot reach a log line.
 */
import { redact } from './redact.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line (e.g. `{ provider: 'cloudreve' }`). */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  format?: 'text' | 'json';
  /** Where lines go (default: stderr). */
  write?: (line: string) => void;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/** Create a logger. Level defaults to $CLOUDMOUNT_LOG_LEVEL or "warn". */
export function createLogger(options: LoggerOptions = {}, base: LogFields = {}): Logger {
  const level = options.level ?? (process.env.CLOUDMOUNT_LOG_LEVEL as LogLevel | undefined) ?? 'warn';
  const format = options.format ?? 'text';
  const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const threshold = ORDER[level] ?? ORDER.warn;

  const emit = (lvl: Exclude<LogLevel, 'silent'>, message: string, fields: LogFields = {}) => {
    if (ORDER[lvl] < threshold) return;
    const all = { ...base, ...fields };
    if (format === 'json') {
      write(redact(JSON.stringify({ time: new Date().toISOString(), level: lvl, msg: message, ...all }, jsonSafe)));
    } else {
      const extra = Object.entries(all).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v, jsonSafe)}`).join(' ');
      write(redact(`${new Date().toISOString()} ${lvl.toUpperCase().padEnd(5)} ${message}${extra ? ' ' + extra : ''}`));
    }
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger({ level, format, write }, { ...base, ...fields }),
  };
}

function jsonSafe(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message, code: (value as { code?: unknown }).code };
  if (typeof value === 'bigint') return value.toString();
  return value;
}

/** A logger that drops everything (the default for library use). */
export const silentLogger: Logger = createLogger({ level: 'silent' });
