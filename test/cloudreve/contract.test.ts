/** The shared Vfs contract, run against CloudreveVfs over a fresh emulator per test. */
import { describeContract } from '../contract/suite.js';
import { CloudreveVfs } from '../../adapters/cloudreve/index.js';
import { startCloudreveEmulator } from '../../adapters/cloudreve/index.js';

describeContract('CloudreveVfs over the emulator', async () => {
  // Small chunks so the multi-megabyte case goes through a real multi-chunk session.
  const emu = await startCloudreveEmulator({ chunkSize: 2 * 1024 * 1024 });
  const vfs = new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password });
  return { vfs, cleanup: () => emu.close() };
});
