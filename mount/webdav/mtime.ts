/**
 * Modification times WebDAV clients send: ownCloud/Nextcloud's `X-OC-Mtime` header on PUT (Unix
 * seconds; rclone's owncloud/nextcloud vendors send it), and the PROPPATCH properties that mean
 * "set this file's mtime": `DAV:lastmodified` (Unix seconds, what ownCloud takes and rclone sends when
 * the PUT's time was not accepted), Windows Explorer's `Win32LastModifiedTime` and `DAV:getlastmodified`
 * (HTTP dates). Every parser is linear and bounded; nonsense is `undefined`, never an exception.
 */
import { MAX_PROVIDER_MTIME_MS } from '../../src/mtime.js';

/** Namespace of Windows Explorer's Win32* properties. */
export const MS_NS = 'urn:schemas-microsoft-com:';

/**
 * Latest mtime a client may set, in Unix seconds: 9999-12-31T23:59:59Z, as far as providers are sent
 * one (src/mtime.ts). Earlier than 1970 is refused too (`> 0`).
 */
export const MAX_CLIENT_MTIME_SECONDS = MAX_PROVIDER_MTIME_MS / 1000;

/** Longest X-OC-Mtime or time property looked at, in characters (a time needs fewer than 40). */
export const MAX_MTIME_TEXT_CHARS = 64;

/** Unix seconds (maybe fractional) as a Date; undefined when absent, malformed or out of range. */
export function parseUnixSeconds(value: string | string[] | undefined): Date | undefined {
  if (typeof value !== 'string' || value.length > MAX_MTIME_TEXT_CHARS) return undefined;
  const text = value.trim();
  if (!/^\d{1,12}(\.\d{1,9})?$/.test(text)) return undefined;
  const seconds = Number(text);
  if (!(seconds > 0 && seconds <= MAX_CLIENT_MTIME_SECONDS)) return undefined;
  return new Date(Math.round(seconds * 1000));
}

const HTTP_DATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/** An IMF-fixdate ("Sat, 03 Feb 2001 00:00:00 GMT", RFC 9110 §5.6.7) as a Date; undefined otherwise. */
export function parseHttpDate(value: string): Date | undefined {
  if (value.length > MAX_MTIME_TEXT_CHARS) return undefined;
  const text = value.trim();
  if (!HTTP_DATE.test(text)) return undefined;
  const ms = Date.parse(text);
  if (!(ms > 0 && ms <= MAX_CLIENT_MTIME_SECONDS * 1000)) return undefined;
  return new Date(ms);
}

/** How a PROPPATCH property's value names a time, when the property is one that sets the mtime. */
export function mtimePropertyKind(ns: string, name: string): 'unix-seconds' | 'http-date' | undefined {
  if (ns === 'DAV:' && name === 'lastmodified') return 'unix-seconds';
  if (ns === 'DAV:' && name === 'getlastmodified') return 'http-date';
  if (ns === MS_NS && name === 'Win32LastModifiedTime') return 'http-date';
  return undefined;
}

/** The time a PROPPATCH value (its serialised children) sets; undefined when it is not plain, valid text. */
export function parseMtimeProperty(kind: 'unix-seconds' | 'http-date', valueXml: string): Date | undefined {
  if (valueXml.length > MAX_MTIME_TEXT_CHARS || valueXml.includes('<') || valueXml.includes('&')) return undefined;
  return kind === 'unix-seconds' ? parseUnixSeconds(valueXml) : parseHttpDate(valueXml);
}
