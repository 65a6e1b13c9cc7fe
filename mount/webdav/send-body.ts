/**
 * A response body from a Vfs stream, written in few large syscalls. A provider's response arrives
 * in the socket's 64 KiB reads, one callback each; piped as they come, each is its own write(2) to
 * the client, and on a fast link those writes were the share's largest cost (a fifth of its CPU on
 * a loopback download, most of it per call). The chunks that arrive in one turn of the event loop
 * (libuv reads a ready socket up to 32 times in a row) are written together instead: the response
 * is corked at the first and uncorked once the turn's I/O is done, one writev(2) for all of them,
 * with no copy. Backpressure as pipe(): the source pauses while more than `maxBufferedBytes` wait.
 */
import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';

/** Bytes waiting for the client before the source is paused (one turn of reads fits). */
export const SEND_BUFFER_BYTES = 2 * 1024 * 1024;

/**
 * Write all of `source` to `res` and end it. Rejects with the source's error (the response is
 * destroyed, so the client sees a cut-short body, never a short one that looks whole), or when the
 * client goes away first (the source is destroyed).
 */
export function sendBody(source: Readable, res: ServerResponse, maxBufferedBytes = SEND_BUFFER_BYTES): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let corked = false;
    let settled = false;
    const uncork = () => {
      corked = false;
      res.uncork();
    };
    const finish = (err?: unknown) => {
      if (settled) return;
      settled = true;
      source.off('data', onData);
      source.off('end', onEnd);
      source.off('error', onError);
      res.off('drain', onDrain);
      res.off('finish', onFinish);
      res.off('close', onClose);
      if (err) {
        if (!source.destroyed) source.destroy();
        if (!res.destroyed) res.destroy(err instanceof Error ? err : new Error(String(err)));
        reject(err);
      } else resolve();
    };
    const onData = (chunk: Buffer) => {
      if (!corked) {
        corked = true;
        res.cork();
        setImmediate(uncork);
      }
      res.write(chunk);
      if (res.writableLength > maxBufferedBytes) source.pause();
    };
    const onDrain = () => {
      if (source.isPaused()) source.resume();
    };
    const onEnd = () => {
      if (corked) uncork();
      res.end();
    };
    const onFinish = () => finish();
    const onError = (e: unknown) => finish(e);
    const onClose = () => finish(new Error('the client closed the connection before the body was sent'));
    source.on('data', onData);
    source.once('end', onEnd);
    source.once('error', onError);
    res.on('drain', onDrain);
    res.once('finish', onFinish);
    res.once('close', onClose);
  });
}
