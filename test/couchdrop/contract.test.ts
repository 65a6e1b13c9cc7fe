/** The shared Vfs contract, passed by CouchdropVfs over the emulator in both size-key modes. */
import { describeContract } from '../contract/suite.js';
import { harness } from './fixtures.js';

for (const sizeKey of ['size', 'size:'] as const) {
  describeContract(`CouchdropVfs (emulator, "${sizeKey}")`, async () => {
    const h = await harness({ sizeKey });
    return { vfs: h.vfs, cleanup: h.close };
  }, { bigFileBytes: 6 * 1024 * 1024 });
}
