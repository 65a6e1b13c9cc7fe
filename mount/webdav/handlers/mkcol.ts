/** MKCOL: create one collection. 405 when the path exists, 409 without a parent, 415 with a body. */
import type { Dav } from '../context.js';
import { parentConflict, statOrNull } from '../lookup.js';
import { HttpError } from '../reply.js';
import { checkWritable } from '../write-check.js';

export async function handleMkcol(dav: Dav): Promise<void> {
  const { req, res, state } = dav;
  const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
  if (hasBody) {
    req.resume();
    throw new HttpError(415, 'MKCOL with a request body is not supported');
  }
  if (await statOrNull(dav, dav.path)) throw new HttpError(405, 'already exists');
  await checkWritable(dav, [{ path: dav.path, membership: true }]);
  try {
    await state.vfs.mkdir(dav.path, { signal: dav.signal });
  } catch (e) {
    await parentConflict(dav, dav.path, e);
  }
  res.writeHead(201, { 'Content-Length': 0 });
  res.end();
}
