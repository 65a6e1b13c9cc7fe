// Child process serving one cloudmount frontend for a benchmark, so the benchmark can drive it from
// outside (FUSE must never be used by the process serving it) and read its RSS from /proc.
//   node serve-frontend.mjs <fuse|webdav> <backend-json> [mountpoint]
// backend-json: {"kind":"memory"} | {"kind":"local","root":dir} |
//               {"kind":"cloudreve","baseUrl":…,"email":…,"password":…,"pageSize"?:n}
// Optional "frontend" key: options passed to mountFuse / serveWebdav.
// Prints one line "ready <url or mountpoint>" on stdout; SIGTERM/SIGINT closes cleanly and exits.
const [kind, backendJson, mountpoint] = process.argv.slice(2);
const backend = JSON.parse(backendJson);
const dist = new URL('../../dist/', import.meta.url);
const load = (p) => import(new URL(p, dist).href);

let vfs;
if (backend.kind === 'memory') vfs = new (await load('adapters/memory/index.js')).MemoryVfs();
else if (backend.kind === 'local') vfs = new (await load('adapters/local/index.js')).LocalVfs({ root: backend.root });
else if (backend.kind === 'cloudreve') {
  const { CloudreveVfs } = await load('adapters/cloudreve/index.js');
  const { kind: _k, frontend: _f, ...opts } = backend;
  vfs = new CloudreveVfs(opts);
} else throw new Error(`unknown backend ${backend.kind}`);

let close;
if (kind === 'fuse') {
  const { mountFuse } = await load('mount/fuse.js');
  const m = await mountFuse(vfs, mountpoint, { ...(backend.frontend ?? {}) });
  close = () => m.unmount();
  process.stdout.write(`ready ${m.mountpoint}\n`);
} else {
  const { serveWebdav } = await load('mount/webdav.js');
  const s = await serveWebdav(vfs, { ...(backend.frontend ?? {}) });
  close = () => s.close();
  process.stdout.write(`ready ${s.url}\n`);
}
let closing = false;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (closing) return;
    closing = true;
    Promise.resolve(close()).catch(() => undefined).finally(() => {
      Promise.resolve(vfs.close?.()).catch(() => undefined).finally(() => process.exit(0));
    });
  });
}
