/**
 * Downloads that carry on after the connection breaks off mid-body: the rest is asked for again from
 * the byte where it stopped (a few times, each request through the Scheduler like any other), and
 * the adapter checks on each reopen that the file is still the one being read (size, version).
 */

export interface ResumeOptions<D> {
  /** The bytes of one open download, given how many of the whole read arrived before it. */
  bytes(download: D, got: number): AsyncIterable<Buffer>;
  /** Is this failure a break-off worth resuming (reset, body cut short), or the answer? */
  isBreakOff(e: unknown): boolean;
  /**
   * Open the rest, from byte `got` of the read; undefined when nothing is left. Throws (and closes
   * what it opened) when the file changed since `previous`.
   */
  reopen(got: number, previous: D): Promise<D | undefined>;
  /** Resumes before the break-off is the reader's error. */
  maxResumes: number;
  signal?: AbortSignal | undefined;
  /** Told before each resume (for the log). */
  onResume?: (got: number, resume: number) => void;
}

/** The bytes of `first` and, after each break-off, of the download `reopen` gives for the rest. */
export async function* resumable<D>(first: D, options: ResumeOptions<D>): AsyncGenerator<Buffer> {
  let current = first;
  let got = 0;
  for (let resumes = 0; ; resumes++) {
    try {
      for await (const chunk of options.bytes(current, got)) {
        got += chunk.length;
        yield chunk;
      }
      return;
    } catch (e) {
      if (options.signal?.aborted || !options.isBreakOff(e) || resumes >= options.maxResumes) throw e;
      options.onResume?.(got, resumes + 1);
      const next = await options.reopen(got, current);
      if (next === undefined) return;
      current = next;
    }
  }
}
