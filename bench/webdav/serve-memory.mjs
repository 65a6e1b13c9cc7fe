// Child process of the WebDAV benchmark: serves a MemoryVfs seeded like the rclone directory.
// Usage: node serve-memory.mjs <dist dir>; prints the URL on stdout, then serves until killed.
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';

const dist = process.argv[2];
const { serveWebdav } = await import(pathToFileURL(join(dist, 'mount/webdav.js')).href);
const { MemoryVfs } = await import(pathToFileURL(join(dist, 'adapters/memory/index.js')).href);
const { seedData } = await import('./data.mjs');

const vfs = new MemoryVfs();
await seedData({
  mkdir: (p) => vfs.mkdir(p),
  write: (p, data) => vfs.write(p, data),
});
const server = await serveWebdav(vfs, { cache: process.env.BENCH_NO_CACHE ? false : true });
process.stdout.write(server.url + '\n');
// Exit cleanly on a signal, so `--cpu-prof` can write its profile.
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close().finally(() => process.exit(0)));
