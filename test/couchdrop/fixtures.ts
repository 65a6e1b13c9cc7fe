/** Shared set-up for the Couchdrop tests: an emulator and a CouchdropVfs talking to it. */
import { CouchdropVfs } from '../../adapters/couchdrop/index.js';
import type { CouchdropVfsSettings } from '../../adapters/couchdrop/index.js';
import { startCouchdropEmulator } from '../../adapters/couchdrop/emulator/index.js';
import type { CouchdropEmulator, CouchdropEmulatorOptions } from '../../adapters/couchdrop/emulator/index.js';

/**
 * Fast retries for tests: the real defaults (250 ms base, 20 s cap) would only make them slow.
 * The adaptive pacer is off by default here: injected faults that ignore the request rate (every 5th
 * request, whatever the pace) would otherwise drive it down to its floor. The rate-limit test turns it on.
 */
export const FAST_RETRIES = { baseDelayMs: 10, maxDelayMs: 200, maxAttempts: 8, adaptive: false } as const;

export interface Harness {
  emu: CouchdropEmulator;
  vfs: CouchdropVfs;
  close(): Promise<void>;
}

/** Start an emulator and a Vfs on it (static token unless `login` is set). */
export async function harness(
  emulatorOptions: CouchdropEmulatorOptions = {},
  vfsOptions: CouchdropVfsSettings & { login?: boolean; token?: string } = {},
): Promise<Harness> {
  const emu = await startCouchdropEmulator(emulatorOptions);
  const { login, token, ...rest } = vfsOptions;
  const credentials = login ? { username: emu.username, password: emu.password } : { token: token ?? emu.token };
  const vfs = new CouchdropVfs({
    ...credentials,
    apiUrl: emu.apiUrl,
    fileioUrl: emu.fileioUrl,
    ...rest,
    scheduler: { ...FAST_RETRIES, ...(rest.scheduler as object | undefined) },
  });
  return {
    emu,
    vfs,
    close: async () => {
      await vfs.close();
      await emu.close();
    },
  };
}
