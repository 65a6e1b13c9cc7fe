/**
 * MeteredVfs: a pass-through Vfs that counts the file bytes moved each way, for `--stats`.
 */
import { Transform } from 'node:stream';
import type { Readable } from 'node:stream';
import { iterateBytes } from './streams.js';
import type { Entry, ReadOptions, WriteData, WriteOptions } from './vfs.js';
import { ForwardingVfs } from './forward.js';

export class MeteredVfs extends ForwardingVfs {
  /** File bytes handed to readers. */
  bytesDown = 0;
  /** File bytes accepted from writers. */
  bytesUp = 0;

  override async read(path: string, options?: ReadOptions): Promise<Readable> {
    const source = await this.inner.read(path, options);
    const counter = new Transform({
      transform: (chunk: Buffer, _enc, done) => {
        this.bytesDown += chunk.length;
        done(null, chunk);
      },
    });
    source.on('error', (e) => counter.destroy(e));
    counter.on('close', () => source.destroy());
    return source.pipe(counter);
  }

  override write(path: string, data: WriteData, options?: WriteOptions): Promise<Entry> {
    const self = this;
    async function* counted() {
      for await (const chunk of iterateBytes(data)) {
        self.bytesUp += chunk.length;
        yield chunk;
      }
    }
    return this.inner.write(path, counted(), options);
  }
}
