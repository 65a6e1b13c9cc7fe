/** Counters that show what the cache saved: the figures are calls and bytes, not time. */

/** A snapshot returned by `CachedVfs.stats()`. */
export interface CacheStats {
  /** stat/list/read calls answered without asking the inner Vfs. */
  hits: number;
  /** stat/list calls and block fetches that went to the inner Vfs. */
  misses: number;
  /** Calls that joined an identical request already in flight (stat, list, block). */
  coalesced: number;
  /** Inner calls avoided: hits + coalesced. */
  requestsSaved: number;
  statHits: number;
  statMisses: number;
  listHits: number;
  listMisses: number;
  /** stat/list answered "does not exist" from memory. */
  negativeHits: number;
  /** Blocks served from the block cache (including ones a read-ahead fetched earlier). */
  blockHits: number;
  /** Blocks that had to be fetched for a reader that was waiting. */
  blockMisses: number;
  /** Ranged `read` calls made on the inner Vfs. */
  innerReads: number;
  /** File bytes handed to readers from memory (cached or already-fetched blocks). */
  bytesFromCache: number;
  /** File bytes fetched from the inner Vfs. */
  bytesFetched: number;
  /** Block fetches (mostly read-ahead) cancelled because nobody needed them any more. */
  fetchesAborted: number;
  /** Reads that found a file changed remotely (size mismatch) and dropped its blocks. */
  staleDetected: number;
  /** Cache entries or subtrees dropped by mutations and `forget`. */
  invalidations: number;
  /** Bytes of file content held now, and the bound. */
  blockCacheBytes: number;
  blockCacheMaxBytes: number;
  blockCacheBlocks: number;
  /** Metadata held now: stat records and cached listings. */
  metadataEntries: number;
  listings: number;
}

/** The mutable counters behind a snapshot. */
export class CacheCounters {
  statHits = 0;
  statMisses = 0;
  listHits = 0;
  listMisses = 0;
  negativeHits = 0;
  readHits = 0;
  coalesced = 0;
  blockHits = 0;
  blockMisses = 0;
  innerReads = 0;
  bytesFromCache = 0;
  bytesFetched = 0;
  fetchesAborted = 0;
  staleDetected = 0;
  invalidations = 0;
}
