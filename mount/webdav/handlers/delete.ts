/** DELETE: a file or a whole collection; its dead properties and locks go with it. */
import { VfsError } from '../../../src/errors.js';
import { preconditionStatus } from '../conditional.js';
import type { Dav } from '../context.js';
import { discardBody } from '../body.js';
import { HttpError } from '../reply.js';
import { checkWritable } from '../write-check.js';

export async function handleDelete(dav: Dav): Promise<void> {
  const { state, res } = dav;
  discardBody(dav.req);
  if (state.isJunk(dav.path.slice(dav.path.lastIndexOf('/') + 1))) {
    res.writeHead(204);
    res.end();
    return;
  }
  if (dav.path === '/') throw new VfsError('EPERM', 'the root collection cannot be deleted', { provider: 'webdav' });
  const entry = await state.vfs.stat(dav.path, { signal: dav.signal });
  if (preconditionStatus(dav.req, entry) !== 0) throw new HttpError(412, 'precondition failed');
  const depth = dav.req.headers.depth;
  if (entry.type === 'directory' && depth !== undefined && String(depth).toLowerCase() !== 'infinity') {
    throw new HttpError(400, 'DELETE of a collection needs Depth: infinity');
  }
  await checkWritable(dav, [{ path: dav.path, tree: true, membership: true }]);
  await state.vfs.remove(dav.path, { recursive: true, signal: dav.signal });
  await state.props.removeInside(dav.path);
  await state.locks.removeInside(dav.path);
  res.writeHead(204);
  res.end();
}
