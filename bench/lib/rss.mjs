// Peak resident memory of another process, from /proc (Linux): VmHWM after a reset via clear_refs,
// with a sampler as a fallback where clear_refs is refused.
import { readFileSync, writeFileSync } from 'node:fs';

/** Current and peak RSS of `pid` in MiB, or undefined when the process is gone. */
export function rssOf(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
    return { rssMiB: kb('VmRSS') / 1024, hwmMiB: kb('VmHWM') / 1024 };
  } catch {
    return undefined;
  }
}

/**
 * Start watching the peak RSS of `pid`: resets the kernel's high-water mark (so start-up and
 * seeding do not count) and samples every `everyMs` as well. `stop()` returns the peak in MiB.
 */
export function watchPeakRss(pid, everyMs = 50) {
  let reset = true;
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    reset = false;
  }
  let sampled = 0;
  const timer = setInterval(() => {
    const r = rssOf(pid);
    if (r) sampled = Math.max(sampled, r.rssMiB);
  }, everyMs);
  return {
    /** Peak MiB seen (kernel high-water mark when it could be reset, else the sampled peak). */
    stop() {
      clearInterval(timer);
      const r = rssOf(pid);
      if (r) sampled = Math.max(sampled, r.rssMiB);
      return { peakMiB: reset && r ? Math.max(r.hwmMiB, sampled) : sampled, method: reset ? 'VmHWM (reset)' : 'sampled VmRSS' };
    },
  };
}
