/** OPTIONS: advertise WebDAV class 1 and 2 and the methods this share allows. */
import type { Dav } from '../context.js';

const READ = 'OPTIONS, GET, HEAD, PROPFIND';
const WRITE = 'PUT, DELETE, MKCOL, COPY, MOVE, PROPPATCH, LOCK, UNLOCK';

export async function handleOptions(dav: Dav): Promise<void> {
  dav.req.resume();
  dav.res.writeHead(200, {
    DAV: '1, 2',
    'MS-Author-Via': 'DAV',
    Allow: dav.state.vfs.capabilities.readOnly ? READ : `${READ}, ${WRITE}`,
    'Accept-Ranges': 'bytes',
    'Content-Length': 0,
  });
  dav.res.end();
}
