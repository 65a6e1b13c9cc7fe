/**
 * LatencyVfs: wraps a Vfs (MemoryVfs in the bench) so each call costs what a remote provider
 * would: one round trip of `latencyMs` per request, and a listing paged like Cloudreve's
 * (`pageSize` entries per request, pages fetched one after another). It counts requests so the
 * bench can print requests per user operation without a network.
 */

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class LatencyVfs {
  /** @param {import('../../dist/src/index.js').Vfs} inner */
  constructor(inner, { latencyMs = 50, pageSize = 100, bytesPerSecond = 100 * 1024 * 1024 } = {}) {
    this.inner = inner;
    this.name = `latency(${inner.name})`;
    this.latencyMs = latencyMs;
    this.pageSize = pageSize;
    this.bytesPerSecond = bytesPerSecond;
    this.requests = 0;
  }

  get capabilities() {
    return this.inner.capabilities;
  }

  async request() {
    this.requests++;
    await sleep(this.latencyMs);
  }

  async stat(path, options) {
    await this.request();
    return this.inner.stat(path, options);
  }

  async list(dir, options) {
    const entries = await this.inner.list(dir, options);
    const pages = Math.max(1, Math.ceil(entries.length / this.pageSize));
    for (let i = 0; i < pages; i++) await this.request();
    return entries;
  }

  /** One ranged request; the body then streams at `bytesPerSecond` (a link, not a memcpy). */
  async read(path, options) {
    await this.request();
    const source = await this.inner.read(path, options);
    const rate = this.bytesPerSecond;
    const { Readable } = await import('node:stream');
    async function* paced() {
      let sent = 0;
      const started = Date.now();
      for await (const chunk of source) {
        sent += chunk.length;
        const due = started + (sent / rate) * 1000 - Date.now();
        if (due > 1) await sleep(due);
        yield chunk;
      }
    }
    return Readable.from(paced(), { objectMode: false });
  }

  async write(path, data, options) {
    await this.request();
    return this.inner.write(path, data, options);
  }
  async mkdir(path, options) {
    await this.request();
    return this.inner.mkdir(path, options);
  }
  async remove(path, options) {
    await this.request();
    return this.inner.remove(path, options);
  }
  async rename(from, to, options) {
    await this.request();
    return this.inner.rename(from, to, options);
  }
  async copy(from, to, options) {
    await this.request();
    return this.inner.copy(from, to, options);
  }
  async space(options) {
    await this.request();
    return this.inner.space(options);
  }
}
