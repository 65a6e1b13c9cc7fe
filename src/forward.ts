/**
 * The optional stores a provider may offer beyond the Vfs contract (dead properties, share links),
 * forwarded by a pass-through layer when and only when the Vfs it wraps has them: one place for what
 * CachedVfs, MeteredVfs and SubtreeVfs would otherwise each write out.
 */
import type { DeadPropertyStore, ShareLink, ShareLinkStore, Vfs } from './vfs.js';
import { hasDeadPropertyStore, hasShareLinks } from './vfs.js';

/** The optional members a forwarding layer declares. */
export interface ForwardedStores {
  readonly getProps?: DeadPropertyStore['getProps'];
  readonly setProps?: DeadPropertyStore['setProps'];
  readonly createShare?: ShareLinkStore['createShare'];
  readonly listShares?: ShareLinkStore['listShares'];
  readonly removeShare?: ShareLinkStore['removeShare'];
}

/** How a layer's paths map onto the inner Vfs (identity unless the layer re-roots). */
export interface PathMapping {
  down(path: string): string;
  /** A link as the layer shows it (its path re-rooted, or left out when outside). */
  upLink(link: ShareLink): ShareLink;
}

const IDENTITY: PathMapping = { down: (p) => p, upLink: (l) => l };

/** Give `layer` the stores `inner` has, with paths mapped by `mapping`. */
export function forwardStores(layer: ForwardedStores, inner: Vfs, mapping: PathMapping = IDENTITY): void {
  const target = layer as { -readonly [K in keyof ForwardedStores]: ForwardedStores[K] };
  if (hasDeadPropertyStore(inner)) {
    target.getProps = (path, o) => inner.getProps(mapping.down(path), o);
    target.setProps = (path, patch, o) => inner.setProps(mapping.down(path), patch, o);
  }
  if (hasShareLinks(inner)) {
    target.createShare = async (path, o) => mapping.upLink(await inner.createShare(mapping.down(path), o));
    target.listShares = async (o) => (await inner.listShares(o)).map(mapping.upLink);
    target.removeShare = (id, o) => inner.removeShare(id, o);
  }
}
