/** The watch building blocks: bounded queues, hostile event streams, the feed's event parsing. */
import { describe, expect, it } from 'vitest';
import { MAX_EVENTS_PER_MESSAGE, MAX_SSE_MESSAGE_BYTES, parseEvents, readSse } from '../adapters/cloudreve/events.js';
import { ChangeQueue, MAX_QUEUED_CHANGES } from '../src/watch.js';

const stream = (text: string) => new Response(text, { headers: { 'Content-Type': 'text/event-stream' } });

async function all(res: Response) {
  const out = [];
  for await (const m of readSse(res, new AbortController().signal)) out.push(m);
  return out;
}

describe('ChangeQueue', () => {
  it('a reader that stops reading costs at most MAX_QUEUED_CHANGES, then one resync of its root', async () => {
    const q = new ChangeQueue('/a');
    for (let i = 0; i <= MAX_QUEUED_CHANGES + 5; i++) q.push({ type: 'create', path: `/a/f${i}` });
    const it = q[Symbol.asyncIterator]();
    const first = await it.next();
    expect(first.value).toEqual({ type: 'resync', path: '/a' });
    q.push({ type: 'delete', path: '/elsewhere' }); // outside the root: not queued
    q.push({ type: 'resync', path: '/' }); // an ancestor's resync covers the root
    expect((await it.next()).value).toEqual({ type: 'create', path: `/a/f${MAX_QUEUED_CHANGES + 1}` });
  });
});

describe('readSse', () => {
  it('reads gin\'s format, CRLF lines, comments, multi-line data, and a split across chunks', async () => {
    expect(await all(stream('event:subscribed\ndata:<nil>\n\n: comment\r\nevent: event\r\ndata: {"a":\r\ndata: 1}\r\n\r\n'))).toEqual([
      { event: 'subscribed', data: '<nil>' },
      { event: 'event', data: '{"a":\n1}' },
    ]);
  });

  it('a message longer than the limit ends the stream with an error (no unbounded buffer)', async () => {
    const huge = `event:event\ndata:${'x'.repeat(MAX_SSE_MESSAGE_BYTES + 10)}\n\n`;
    await expect(all(stream(huge))).rejects.toThrow(/longer than/);
    const noNewline = `data:${'x'.repeat(MAX_SSE_MESSAGE_BYTES + 10)}`;
    await expect(all(stream(noNewline))).rejects.toThrow(/longer than/);
  });
});

describe('parseEvents', () => {
  it('maps objects and arrays of server events to Vfs changes, decoding server names', () => {
    expect(parseEvents('{"type":"create","file_id":"x","from":"/a/b？.txt","to":""}')).toEqual([{ type: 'create', path: '/a/b?.txt' }]);
    expect(parseEvents('[{"type":"rename","file_id":"x","from":"/a","to":"/b"},{"type":"delete","file_id":"y","from":"/c","to":""}]')).toEqual([
      { type: 'rename', path: '/b', oldPath: '/a' },
      { type: 'delete', path: '/c' },
    ]);
  });

  it('anything it cannot read becomes a resync, never an exception or a path outside the drive', () => {
    expect(parseEvents('not json')).toEqual([{ type: 'resync', path: '/' }]);
    expect(parseEvents('{"type":"create","from":"/a/../../etc"}')).toEqual([{ type: 'resync', path: '/' }]);
    expect(parseEvents('{"type":"teleport","from":"/a"}')).toEqual([{ type: 'resync', path: '/a' }]);
    expect(parseEvents(JSON.stringify(Array.from({ length: MAX_EVENTS_PER_MESSAGE + 1 }, () => ({ type: 'create', from: '/a' }))))).toEqual([{ type: 'resync', path: '/' }]);
  });
});
