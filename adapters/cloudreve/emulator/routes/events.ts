/**
 * GET /file/events: the change feed as Server-Sent Events (routers/router.go `file.GET("events")`,
 * service/explorer/events.go). Checks in the server's order: login (401), the admin switch (40019),
 * the `uri` query (40001), a listable folder (40001), the client id header present and a UUID (40001).
 * Then `subscribed` or `resumed`, `keep-alive` every keepAliveMs, and one `event` per merged event,
 * written as gin's SSEvent writes them (`event:<name>\ndata:<json or <nil>>\n\n`).
 */
import { emuFail, paramError } from '../errors.js';
import { sendText } from '../http.js';
import type { FeedEvent } from '../feed.js';
import { HANDLED, header, myUri, requireUser } from './context.js';
import type { Handler } from './context.js';

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

export const events: Handler = async (ctx) => {
  const feed = ctx.feed;
  if (!feed.route) {
    sendText(ctx.res, ctx.entry, 404, '404 page not found');
    return HANDLED;
  }
  requireUser(ctx);
  if (!feed.enabled) emuFail(40019, 'This feature is not enabled');
  const raw = ctx.url.searchParams.get('uri');
  if (!raw) paramError('Key: \'ExplorerEventService.Uri\' Error:Field validation for \'Uri\' failed on the \'required\' tag');
  const uri = myUri(raw);
  const node = ctx.store.find(uri.segments);
  if (!node || node.type !== 1) emuFail(40001, 'Requested uri not available');
  const clientId = header(ctx.req, 'x-cr-client-id') ?? '';
  if (clientId === '') emuFail(40001, 'Client ID is required');
  if (!UUID.test(clientId)) emuFail(40001, 'Invalid client ID');

  const folder = { id: node.id, segments: () => ctx.store.segmentsOf(node) };
  const { sub, resumed } = feed.subscribe(folder, clientId);
  const { res, req, entry } = ctx;
  entry.status = 200;
  entry.code = 0;
  res.writeHead(200, {
    'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-cache',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  const send = (event: string, data?: FeedEvent) => res.write(`event:${event}\ndata:${data === undefined ? '<nil>' : JSON.stringify(data)}\n\n`);
  send(resumed ? 'resumed' : 'subscribed');

  await new Promise<void>((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearInterval(keepAlive);
      sub.wake = undefined;
      sub.kick = undefined;
      // Unsubscribe marks the subscriber offline; it is kept (with what it buffers) for a resume.
      if (!sub.closed) sub.setOffline();
      res.end();
      resolve();
    };
    const keepAlive = setInterval(() => send('keep-alive'), feed.keepAliveMs);
    keepAlive.unref();
    let writing = false;
    const drain = () => {
      if (writing || done) return;
      if (sub.closed) {
        // The hub shut down: the server ends the stream.
        finish();
        return;
      }
      while (sub.channel.length > 0) {
        const evt = sub.channel.shift()!;
        if (!send('event', evt)) {
          // Backpressure: wait for the socket before taking the next one (a slow reader fills the channel).
          writing = true;
          res.once('drain', () => {
            writing = false;
            drain();
          });
          return;
        }
      }
    };
    sub.wake = drain;
    sub.kick = () => {
      finish();
      res.socket?.destroy();
    };
    req.on('close', finish);
    res.on('close', finish);
    drain();
  });
  return HANDLED;
};
