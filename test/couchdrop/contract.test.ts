/**
 * The shared Vfs contract, passed by CouchdropVfs over the emulator: in both size-key modes, and once
 * more with every alternative reading of the reference's open questions switched on (422 for missing
 * paths, ls of a file listing the file, non-empty folders refused on delete, 409 on mkdir of an
 * existing folder, ranges honoured, downloads redirected, other names for the provisional routes).
 */
import { describeContract } from '../contract/suite.js';
import { harness } from './fixtures.js';

for (const sizeKey of ['size', 'size:'] as const) {
  describeContract(`CouchdropVfs (emulator, "${sizeKey}")`, async () => {
    const h = await harness({ sizeKey });
    return { vfs: h.vfs, cleanup: h.close };
  });
}

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
