/** The contract through CachedVfs, as the FUSE and WebDAV frontends use CloudreveVfs by default. */
import { describeContract } from '../contract/suite.js';
import { CloudreveVfs, startCloudreveEmulator } from '../../adapters/cloudreve/index.js';
import { CachedVfs } from '../../src/cache.js';

describeContract('CachedVfs(CloudreveVfs) over the emulator', async () => {
  const emu = await startCloudreveEmulator({ chunkSize: 2 * 1024 * 1024 });
  const vfs = new CachedVfs(new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password }));
  return { vfs, cleanup: () => emu.close() };
});
