/**
 * The contract suite again, over an emulator that fails 10% of the idempotent requests (proxy 502s,
 * dropped connections, 50001/-1 envelopes) and adds latency: retries must hide every one of them.
 */
import { describeContract } from '../contract/suite.js';
import { CloudreveVfs, startCloudreveEmulator } from '../../adapters/cloudreve/index.js';

describeContract('CloudreveVfs over a flaky emulator', async () => {
  const emu = await startCloudreveEmulator({
    chunkSize: 2 * 1024 * 1024,
    latencyMs: 2,
    faults: {
      rate: 0.1,
      seed: 2024,
      // Only requests that are safe to resend; mutations are not retried after an ambiguous failure.
      routes: /^(GET \/file(\/info)?|POST \/file\/url|POST \/file\/upload\/\{session\}\/\{index\}|GET \/user\/capacity)$/,
      kinds: ['proxy502', 'reset', 'code50001', 'code-1'],
    },
  });
  const vfs = new CloudreveVfs({
    baseUrl: emu.url, email: emu.email, password: emu.password, maxAttempts: 10,
    schedulerOptions: { baseDelayMs: 5, maxDelayMs: 50 },
  });
  return { vfs, cleanup: () => emu.close() };
});
