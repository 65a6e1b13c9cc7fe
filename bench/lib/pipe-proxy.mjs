// The least a Node frontend can do for a download: a node:http server that answers every GET by
// piping one node:http GET of the URL it is given (?u=…) into the response. A reference for how
// fast any Node process that moves the bytes through itself can be on this machine (the e2e notes).
//   node pipe-proxy.mjs   → prints "ready <url>"
import http from 'node:http';

const agent = new http.Agent({ keepAlive: true });
const server = http.createServer((req, res) => {
  const target = new URL(req.url, 'http://x').searchParams.get('u');
  const up = http.get(target, { agent }, (msg) => {
    res.writeHead(msg.statusCode ?? 502, { 'content-length': msg.headers['content-length'] ?? '' });
    msg.pipe(res);
  });
  up.on('error', () => res.destroy());
  res.on('close', () => up.destroy());
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`ready http://127.0.0.1:${server.address().port}/\n`));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
