/**
 * The shared Vfs contract, passed by CouchdropVfs over the emulator: in the other size-key mode, and once
 * more with every alternative reading of the reference's open questions switched on (422 for missing
 * paths, ls of a file listing the file, non-empty folders refused on delete, 409 on mkdir of an
 * existing folder, ranges honoured, downloads redirected, other names for the provisional routes).
 */
import { describeContract } from '../contract/suite.js';
import { harness } from './fixtures.js';

// The default reading ("size") runs bare and under every layer in test/contract/matrix.test.ts.
describeContract('CouchdropVfs (emulator, "size:")', async () => {
  const h = await harness({ sizeKey: 'size:' });
  return { vfs: h.vfs, cleanup: h.close };
});

const otherRoutes = { rename: { path: '/file/move', toParam: 'destination' }, delete: { path: '/file/rm' } };
describeContract('CouchdropVfs (emulator, alternative readings)', async () => {
  const h = await harness(
    {
      sizeKey: 'size:',
      notFoundStatus: 422,
      lsOfFile: 'self',
      deleteNonEmpty: 'refuse',
      mkdirExisting: { status: 409, error: 'conflict' },
      rangeRequests: true,
      downloadRedirect: 'cross-origin',
      routes: otherRoutes,
    },
    { rangeRequests: true, routes: otherRoutes },
  );
  return { vfs: h.vfs, cleanup: h.close };
});
