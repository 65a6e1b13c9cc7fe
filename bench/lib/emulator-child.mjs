// A Cloudreve emulator in a child process of its own (so its CPU is not the benchmark's), started by
// `script` (an ES module body that prints the emulator's JSON line: url, email, password).
import { spawn } from 'node:child_process';

/** Start the child and wait for its JSON line; `child.kill()` stops it. */
export async function startEmulatorChild(script) {
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const emulator = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (c) => {
      out += c;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve(JSON.parse(line));
    });
    child.once('exit', (code) => reject(new Error(`the emulator exited (${code})`)));
  });
  return { child, emulator };
}
