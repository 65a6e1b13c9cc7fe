/**
 * Dead properties kept by the provider itself (a Vfs with getProps/setProps: Cloudreve's `dav:`
 * metadata, which Cloudreve's own /dav reads too), so every share process and client of the account
 * sees the same ones. The server keeps them with the file, so MOVE, COPY and DELETE need nothing here.
 */
import type { DeadPropertyStore, Vfs } from '../../src/vfs.js';
import { hasDeadPropertyStore } from '../../src/vfs.js';
import { MAX_PROP_VALUE_BYTES, MemoryPropStore, propKey } from './props.js';
import type { DeadProp, DeadPropStore, PropChange } from './props.js';

export class ProviderPropStore implements DeadPropStore {
  constructor(private readonly vfs: Vfs & DeadPropertyStore) {}

  async get(path: string): Promise<Map<string, DeadProp> | undefined> {
    const props = await this.vfs.getProps(path);
    if (props.length === 0) return undefined;
    return new Map(props.map((p) => [propKey(p.namespace, p.name), { ns: p.namespace, name: p.name, valueXml: p.innerXml }]));
  }

  async apply(path: string, changes: PropChange[]): Promise<Set<number>> {
    // The same per-value bound as the share's own store; the provider checks its own limits too.
    const over = new Set<number>();
    changes.forEach((c, i) => {
      if (c.kind === 'set' && Buffer.byteLength(c.prop.valueXml) > MAX_PROP_VALUE_BYTES) over.add(i);
    });
    if (over.size > 0) return over;
    await this.vfs.setProps(path, {
      set: changes.filter((c) => c.kind === 'set').map((c) => ({ namespace: c.prop.ns, name: c.prop.name, innerXml: c.prop.valueXml })),
      remove: changes.filter((c) => c.kind === 'remove').map((c) => ({ namespace: c.prop.ns, name: c.prop.name })),
    });
    return over;
  }

  async removeInside(): Promise<void> {}

  async transfer(): Promise<void> {}
}

/** The store for a share over `vfs`: the provider's own when it keeps properties, else one in memory. */
export function defaultPropStore(vfs: Vfs): DeadPropStore {
  return hasDeadPropertyStore(vfs) ? new ProviderPropStore(vfs) : new MemoryPropStore();
}
