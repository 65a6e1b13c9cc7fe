/**
 * PUT: the body streams into `vfs.write` (never held whole); the answer is sent only after the Vfs
 * committed the new content. A body that ends short of its Content-Length or is aborted fails the
 * write, so the previous version stays. Without a length, and when the Vfs needs one, the body is
 * spooled to a temp file first.
 */
import type { IncomingMessage } from 'node:http';
import { VfsError } from '../../../src/errors.js';
import { spoolToTempFile } from '../../../src/http/temp-file.js';
import type { TempFile } from '../../../src/http/temp-file.js';
import { mtimeSupportOf } from '../../../src/vfs.js';
import { discardBody } from '../body.js';
import { etagOf, preconditionStatus } from '../conditional.js';
import type { Dav } from '../context.js';
import { parentConflict, statOrNull } from '../lookup.js';
import { parseUnixSeconds } from '../mtime.js';
import { HttpError } from '../reply.js';
import { checkWritable } from '../write-check.js';

export async function handlePut(dav: Dav): Promise<void> {
  const { state, req, res } = dav;
  if (dav.path === '/') throw new HttpError(405, 'cannot PUT to the root collection');
  if (state.isJunk(dav.path.slice(dav.path.lastIndexOf('/') + 1))) {
    // OS junk is accepted and dropped (see junk.ts).
    discardBody(req);
    res.writeHead(201, { 'Content-Length': 0 });
    res.end();
    return;
  }
  if (req.headers['content-range'] !== undefined) throw new HttpError(400, 'partial PUT (Content-Range) is not supported');
  const existing = await statOrNull(dav, dav.path);
  if (existing?.type === 'directory') throw new HttpError(405, 'cannot PUT to a collection');
  if (preconditionStatus(req, existing) !== 0) throw new HttpError(412, 'precondition failed');
  await checkWritable(dav, [{ path: dav.path, membership: !existing }]);

  // macOS Finder uploads chunked and states the size in X-Expected-Entity-Length instead.
  const lengthHeader = req.headers['content-length'] ?? req.headers['x-expected-entity-length'];
  let size = lengthHeader === undefined ? undefined : Number(lengthHeader);
  if (size !== undefined && (!Number.isSafeInteger(size) || size < 0)) throw new HttpError(400, 'bad Content-Length');
  const max = state.vfs.capabilities.maxFileSize;
  if (size !== undefined && max !== undefined && size > max) throw new VfsError('EFBIG', `file larger than ${max} bytes`, { provider: 'webdav' });

  // ownCloud/Nextcloud clients (and rclone with vendor owncloud/nextcloud) send the file's mtime;
  // a malformed one is ignored (the upload goes on without it and is not answered "accepted").
  const mtime = mtimeSupportOf(state.vfs) === 'none' ? undefined : parseUnixSeconds(req.headers['x-oc-mtime']);

  let spooled: TempFile | undefined;
  try {
    let data: AsyncIterable<Uint8Array>;
    if (size === undefined && state.vfs.capabilities.needsSizeForWrite) {
      spooled = await spoolToTempFile(req, { owner: 'webdav', dir: state.spoolDir, signal: dav.signal });
      size = spooled.size;
      data = spooled.open();
    } else {
      data = exactBody(req, size);
    }
    let entry;
    try {
      entry = await state.vfs.write(dav.path, data, {
        signal: dav.signal,
        overwrite: true,
        ...(size !== undefined ? { size } : {}),
        ...(mtime ? { mtime } : {}),
      });
    } catch (e) {
      return await parentConflict(dav, dav.path, e);
    }
    res.writeHead(existing ? 204 : 201, {
      ETag: etagOf(entry),
      'Last-Modified': entry.mtime.toUTCString(),
      'Content-Length': 0,
      // Only when the stored file has it: otherwise rclone sets it afterwards (PROPPATCH lastmodified).
      ...(mtime && Math.abs(entry.mtime.getTime() - mtime.getTime()) < Math.max(1000, state.vfs.capabilities.mtimeResolutionMs) ? { 'X-OC-MTime': 'accepted' } : {}),
    });
    res.end();
  } finally {
    await spooled?.dispose();
  }
}

/** The request body, failing (so the write never commits) if it ends before `size` bytes. */
async function* exactBody(req: IncomingMessage, size: number | undefined): AsyncGenerator<Buffer> {
  let received = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    received += chunk.length;
    yield chunk;
  }
  if (size !== undefined && received !== size) {
    throw new VfsError('ECANCELED', `upload ended after ${received} of ${size} bytes`, { provider: 'webdav', operation: 'PUT' });
  }
  if (!req.complete) throw new VfsError('ECANCELED', 'upload aborted', { provider: 'webdav', operation: 'PUT' });
}
