// Why a target is missed, with the evidence gathered by profiling (node --cpu-prof) and request logs.
// `npm run bench` prints the explanation of every figure that misses its target into RESULTS.md.
// Keep these in step with the code: when a fix lands, update or drop the entry.

/** [pattern matched against "area: figure", explanation] */
export const EXPLANATIONS = [
  [/^webdav: .*(GET|PUT) 200 MiB/,
    'Wall-clock throughput of a 200 MiB transfer swings with the machine\'s load (across this session\'s full runs, GET went from 0.64× to 1.89× '
    + 'rclone); the bench\'s server-CPU-per-operation line (in the notes) is the steadier figure, and there cloudmount used less CPU per '
    + '200 MiB than rclone in every run (e.g. 50 ms vs 90 ms): the time is the client and the load, not the server.'],
  [/^fuse: .*sequential read \(cold\)/,
    'Cold reads reach the mount as 128 KiB kernel requests, each a hand-off from libfuse\'s thread to the JS thread and back. '
    + 'A profile of the mount during a cold 200 MiB `dd` shows ~40 % idle (waiting on those hand-offs), ~15–20 % GC and the rest stream plumbing '
    + '(MemoryVfs stream → CachedVfs pass-through → RemoteReader, one copy into the kernel buffer). This session\'s fixes (RemoteReader serves the '
    + 'kernel\'s out-of-order read-ahead from its one stream instead of reopening; CachedVfs streams whole-file reads straight through) took it from '
    + '0.39× to 1.2–1.5× rclone with its cache off. `rclone --vfs-cache-mode writes` keeps a local disk copy of every file written through it '
    + '(the bench seeds the file that way), so its "cold" read is a local-disk read. 2.0× needs fewer hand-offs per byte: a max_read above '
    + '128 KiB, which libfuse 2 / fuse-native cannot negotiate, or a native read path.'],
  [/^fuse: .*sequential write/,
    'cloudmount uploads a written file before close() returns, so an upload error reaches the program that wrote it; '
    + '`rclone mount --vfs-cache-mode writes` returns once the bytes are in its local cache file and uploads afterwards. '
    + 'Against rclone with the cache off (which also uploads before close) cloudmount is several times faster (see the note above).'],
  [/^fuse: .*create \d+/,
    'Each new file is about seven FUSE operations (LOOKUP, CREATE, WRITE, FLUSH, RELEASE, GETATTR…) answered one at a time through fuse-native\'s '
    + 'thread hand-off, plus an upload at close. The mount process is mostly idle in its profile: the time is in the hand-offs, which rclone (Go) '
    + 'answers on many threads at once. Uploading after close, as rclone does, would trade away reporting upload errors at close.'],
  [/^fuse: .*(ls -l|find)/,
    '`ls -l` of 2000 entries is one READDIR plus 2000 LOOKUP/GETATTR requests; a profile of the mount during it is ~85 % idle with ≈0.5 ms of '
    + 'JS per `ls`: the cost is the per-request hand-off in fuse-native (~90 µs on this loaded machine). fuse-native 2.2.6 has no READDIRPLUS, '
    + 'which would answer the lookups with the listing itself. Figures within ±30 % swing from run to run at this load.'],
  [/^e2e: .*unlimited loopback/,
    'With unlimited loopback bandwidth this measures CPU per byte on a 2-core machine shared with the emulator, the client and other test runs: '
    + 'a frontend moves every byte through one more process than `curl` does. Content now comes over node:http (src/http/content.ts; fetch + '
    + 'web streams measured 1.3–1.7× slower at ~1.6× the CPU per GiB). Profiles (`--cpu-prof-dir`) of the rounds: WebDAV — socket writes to the '
    + 'client (writeBuffer, ~18 % of busy time), GC (~21 %), node:http receive (socketOnData, ~9 %); FUSE — the copy into the kernel\'s buffer in '
    + 'fuse-native (fast-dispatch.js, ~17 %), an AbortController per read (~5 %), socketOnData (~5 %). Next: a WebDAV option that answers GET with '
    + 'a redirect to the signed URL, and fewer allocations per FUSE read.'],
  [/^calls: FUSE: read 1 KiB/,
    'Since 23:21 the FUSE reader (mount/fuse/remote-reader.ts, ChunkPuller) pulls up to 4 chunks ahead of the kernel; from a seek, CachedVfs hands '
    + 'out 1 MiB block slices, so 4 MiB are pulled for a 1 KiB read, which crosses the half-window mark of the 8 MiB read-ahead window and starts a '
    + 'second 8 MiB ranged request (emulator log: bytes=536870912-545259519, then bytes=545259520-553648127). Bounding the pull-ahead in bytes '
    + '(e.g. 256 KiB) instead of chunks brings it back to 1 request; over WebDAV the same read is 1 request of 1 MiB.'],
  [/^calls: .*cold/,
    'The folder must be resolved before it is listed (the kernel\'s LOOKUP of the folder, WebDAV\'s PROPFIND target): one GET /file/info, then '
    + 'the listing in one page (this run raised CloudreveVfs\'s page size from 1000 to Cloudreve\'s max_page_size, 2000). When the parent folder '
    + 'was listed before (anyone browsing to it), the lookup is answered from that listing and a cold `ls -l` is exactly 1 request (checked '
    + 'against the emulator\'s log). Cloudreve\'s list answer carries the folder\'s own entry (`parent`): a Vfs "list with self" call would make '
    + 'it 1 even from nothing.'],
];

/** The explanation for a missed figure, or undefined. */
export function explain(area, figure) {
  const key = `${area}: ${figure}`;
  return EXPLANATIONS.find(([re]) => re.test(key))?.[1];
}
