/** JSON shapes the emulator answers with (FileResponse and friends, reference §4). */
import type { DriveStore, FsNode } from './store.js';
import { buildUri } from './uri.js';

/** The capability bitset of the `my` filesystem (bits 0,1,6–10,14–16,18–20,23,24). */
export const MY_CAPABILITY = 'w8edAQ==';

export interface PolicyJson {
  id: string;
  name: string;
  type: string;
  max_size: number;
  chunk_concurrency: number;
}

export function policyJson(maxSize: number, type = 'local'): PolicyJson {
  return { id: 'oeNf', name: 'Default storage policy', type, max_size: maxSize, chunk_concurrency: 1 };
}

/** FileResponse of `node`, its `path` under the caller's URI prefix. */
export function fileJson(store: DriveStore, node: FsNode, prefix = ''): Record<string, unknown> {
  const meta = Object.keys(node.metadata).length > 0 ? { ...node.metadata } : null;
  const out: Record<string, unknown> = {
    type: node.type,
    id: node.hashId,
    name: node.name,
    created_at: node.createdAt.toISOString(),
    updated_at: node.updatedAt.toISOString(),
    size: node.type === 1 ? 0 : node.entity?.data.length ?? node.placeholderSize ?? 0,
    metadata: meta,
    path: node.parent || node === store.root ? store.uriOf(node, prefix) : buildUri('trash', [node.name]),
    capability: MY_CAPABILITY,
    owned: true,
  };
  if (node.entity) out.primary_entity = node.entity.hashId;
  return out;
}
