// The benchmark's data set, written identically into a MemoryVfs and into rclone's directory.
export const BIG_BYTES = 200 * 1024 * 1024;
export const LIST_ENTRIES = 2000;
export const SMALL_BYTES = 4096;

/** Deterministic 1 MiB pattern block (the big file repeats it). */
export function pattern(size = 1024 * 1024) {
  const b = Buffer.allocUnsafe(size);
  let x = 2463534242;
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    b.writeUInt32LE(x >>> 0, i);
  }
  return b;
}

/** Yield the big file's content in 1 MiB chunks. */
export function* bigChunks() {
  const block = pattern();
  for (let sent = 0; sent < BIG_BYTES; sent += block.length) yield block;
}

/** Create the data set through `fs` ({ mkdir(path), write(path, bytes | iterable) }). */
export async function seedData(fs) {
  await fs.write('/big.bin', bigChunks());
  await fs.write('/small.bin', pattern(SMALL_BYTES));
  await fs.mkdir('/list');
  const small = Buffer.from('x'.repeat(100));
  for (let i = 0; i < LIST_ENTRIES; i++) await fs.write(`/list/file-${String(i).padStart(5, '0')}.txt`, small);
}
