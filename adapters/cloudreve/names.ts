/**
 * Name encoding between Vfs names and Cloudreve names.
 *
 * Cloudreve refuses names holding any of `\ / : * ? " < > |` (code 40052, dbfs/validator.go), yet
 * the Vfs contract promises that names with `?`, quotes and backslashes round-trip. As rclone's
 * lib/encoder does, each forbidden character travels as its full-width look-alike (U+FF00 block).
 * A real look-alike in a name (`？`, common in CJK names) would then meet the encoded `?` on the
 * server and the second file would silently replace the first, so the look-alike itself is escaped
 * with U+201B '‛' (rclone's QuoteRune). Only quote runs right before a look-alike carry meaning,
 * which makes the mapping a bijection between all Vfs names and all legal Cloudreve names:
 *
 *   Vfs  ‛ⁿ + `?`  ⇄  server ‛²ⁿ   + `？`        (an even run: the ASCII character)
 *   Vfs  ‛ⁿ + `？` ⇄  server ‛²ⁿ⁺¹ + `？`        (an odd run: the look-alike itself)
 *   any other character, quotes not before a look-alike included, is stored as it is.
 *
 * So `what?.txt` is stored as `what？.txt` (as before: existing files keep their names),
 * `what？.txt` as `what‛？.txt`, and a file another client named `what？.txt` shows here as
 * `what?.txt` and is reached by that name (encode(decode(n)) === n for every server name).
 */
import { VfsError } from '../../src/errors.js';

/** rclone's QuoteRune: SINGLE HIGH-REVERSED-9 QUOTATION MARK. */
export const NAME_QUOTE = '\u201B';

/** ASCII character → the full-width look-alike stored on the server. `/` never reaches here. */
const TO_SERVER: ReadonlyMap<string, string> = new Map([
  ['\\', '\uFF3C'], // ＼
  [':', '\uFF1A'], // ：
  ['*', '\uFF0A'], // ＊
  ['?', '\uFF1F'], // ？
  ['"', '\uFF02'], // ＂
  ['<', '\uFF1C'], // ＜
  ['>', '\uFF1E'], // ＞
  ['|', '\uFF5C'], // ｜
]);

const FROM_SERVER: ReadonlyMap<string, string> = new Map([...TO_SERVER].map(([ascii, wide]) => [wide, ascii]));

/** Cloudreve's own limit on a name, in UTF-8 bytes (dbfs/validator.go: len(name) < 256). */
export const CLOUDREVE_MAX_NAME_BYTES = 255;

/** A Vfs name as Cloudreve stores it. ENAMETOOLONG when the encoded name passes 255 bytes. */
export function encodeName(name: string): string {
  let out = '';
  let quotes = 0; // quotes seen and not yet written: their count doubles before a look-alike
  for (const c of name) {
    if (c === NAME_QUOTE) {
      quotes++;
      continue;
    }
    const wide = TO_SERVER.get(c);
    if (wide !== undefined) out += NAME_QUOTE.repeat(2 * quotes) + wide;
    else if (FROM_SERVER.has(c)) out += NAME_QUOTE.repeat(2 * quotes + 1) + c;
    else out += NAME_QUOTE.repeat(quotes) + c;
    quotes = 0;
  }
  out += NAME_QUOTE.repeat(quotes);
  if (Buffer.byteLength(out) > CLOUDREVE_MAX_NAME_BYTES) {
    throw new VfsError('ENAMETOOLONG', `name is longer than ${CLOUDREVE_MAX_NAME_BYTES} bytes once encoded for Cloudreve`, {
      provider: 'cloudreve',
    });
  }
  return out;
}

/** A Cloudreve name as the Vfs shows it (the inverse of encodeName, defined for every server name). */
export function decodeName(name: string): string {
  let out = '';
  let quotes = 0;
  for (const c of name) {
    if (c === NAME_QUOTE) {
      quotes++;
      continue;
    }
    const ascii = FROM_SERVER.get(c);
    if (ascii !== undefined) out += NAME_QUOTE.repeat(quotes >> 1) + (quotes % 2 === 1 ? c : ascii);
    else out += NAME_QUOTE.repeat(quotes) + c;
    quotes = 0;
  }
  return out + NAME_QUOTE.repeat(quotes);
}
