// Which external tools are installed: the benchmarks never install anything, they say what is missing.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const HINTS = {
  rclone: 'apt-get install rclone',
  wrk: 'apt-get install wrk',
  curl: 'apt-get install curl',
  fusermount: 'apt-get install fuse',
  dd: 'coreutils',
  'redis-server': 'apt-get install redis-server',
};

/** True when `cmd` runs (spawn finds it). */
export function hasTool(cmd) {
  const r = spawnSync(cmd, cmd === 'fusermount' ? ['-V'] : ['--version'], { stdio: 'ignore' });
  return r.error === undefined;
}

/** True when FUSE mounts can be made here (/dev/fuse and fusermount). */
export function canFuse() {
  return existsSync('/dev/fuse') && hasTool('fusermount');
}

/** The tools among `cmds` that are missing, each with how to get it. */
export function missingTools(cmds) {
  return cmds.filter((c) => !hasTool(c)).map((c) => `${c} (${HINTS[c] ?? 'not installed'})`);
}
