/**
 * The range of modification times cloudmount sends to a provider. A time outside it is not sent (the
 * upload goes on and the provider records its own time), so no odd time can make an upload fail:
 * Couchdrop documents no range for `modtime`, Cloudreve ignores a `last_modified` ≤ 0 and stores
 * what it gets in a SQL DATETIME, whose range ends with year 9999.
 */

/** Latest mtime sent to a provider: 9999-12-31T23:59:59Z, the end of SQL's DATETIME (ms). */
export const MAX_PROVIDER_MTIME_MS = 253_402_300_799_000;

/** `mtime` when a provider can be given it (after 1970-01-01, up to year 9999), else undefined. */
export function providerMtime(mtime: Date | undefined): Date | undefined {
  const ms = mtime?.getTime();
  return ms !== undefined && ms > 0 && ms <= MAX_PROVIDER_MTIME_MS ? mtime : undefined;
}
