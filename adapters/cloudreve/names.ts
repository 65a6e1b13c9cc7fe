/**
 * Name encoding between Vfs names and Cloudreve names.
 *
 * Cloudreve refuses names holding any of `\ / : * ? " < > |` (code 40052), yet the Vfs contract
 * promises that names with `?`, quotes and backslashes round-trip. Like rclone's lib/encoder, each
 * forbidden character travels as its full-width Unicode look-alike (U+FF00 block) and is mapped back
 * on the way out. Limitation: a file created elsewhere whose name holds a literal full-width twin
 * (e.g. "？") shows here with the ASCII character ("?"); writing that name back stores the same twin,
 * so such files stay usable, only their displayed name changes.
 */
import { VfsError } from '../../src/errors.js';

/** ASCII character → the full-width look-alike stored on the server. `/` never reaches here. */
const TO_SERVER: Readonly<Record<string, string>> = {
  '\\': '\uFF3C', // ＼
  ':': '\uFF1A', // ：
  '*': '\uFF0A', // ＊
  '?': '\uFF1F', // ？
  '"': '\uFF02', // ＂
  '<': '\uFF1C', // ＜
  '>': '\uFF1E', // ＞
  '|': '\uFF5C', // ｜
};

const FROM_SERVER: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(TO_SERVER).map(([ascii, wide]) => [wide, ascii]),
);

const TO_SERVER_RE = /[\\:*?"<>|]/g;
const FROM_SERVER_RE = /[\uFF3C\uFF1A\uFF0A\uFF1F\uFF02\uFF1C\uFF1E\uFF5C]/g;

/** Cloudreve's own limit on a name, in UTF-8 bytes (validator.go: len < 256). */
export const CLOUDREVE_MAX_NAME_BYTES = 255;

/** A Vfs name as Cloudreve stores it. ENAMETOOLONG when the encoded name passes 255 bytes. */
export function encodeName(name: string): string {
  const encoded = name.replace(TO_SERVER_RE, (c) => TO_SERVER[c]!);
  if (Buffer.byteLength(encoded) > CLOUDREVE_MAX_NAME_BYTES) {
    throw new VfsError('ENAMETOOLONG', `name is longer than ${CLOUDREVE_MAX_NAME_BYTES} bytes once encoded for Cloudreve`, {
      provider: 'cloudreve',
    });
  }
  return encoded;
}

/** A Cloudreve name as the Vfs shows it. */
export function decodeName(name: string): string {
  return name.replace(FROM_SERVER_RE, (c) => FROM_SERVER[c]!);
}
