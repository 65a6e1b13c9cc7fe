/**
 * WebDAV dead properties in Cloudreve's `dav:` metadata, in the server's own format
 * (`pkg/webdav/prop.go`, `metadataDeadProps`): key `dav:<namespace>|<local name>`, value the JSON of
 * `DeadPropsStore` `{"l": lang?, "i": inner XML}`, where `i` is a Go `[]byte` and so **base64** in the
 * JSON. Cloudreve's own `/dav` reads and writes the same keys, so properties set through cloudmount
 * are seen there, by the web UI's metadata, and by every other cloudmount instance on the account.
 * `PATCH /file/metadata` (`service/explorer/metadata.go`): `{uris, patches:[{key, value?, remove?}]}`;
 * the `dav` category has no validator (`manager/metadata.go` `validators["dav"] = {}`).
 */
import { opError } from '../../src/errors.js';
import type { DeadProperty, DeadPropertyPatch } from '../../src/vfs.js';

export const DAV_PREFIX = 'dav:';
const SEPARATOR = '|';
/** Largest inner XML of one property we store (the metadata value is a database text column). */
export const MAX_PROP_XML_BYTES = 64 * 1024;
/** Most properties one PROPPATCH may set or remove. */
export const MAX_PROPS_PER_PATCH = 100;

export interface MetadataPatch {
  key: string;
  value?: string;
  remove?: boolean;
}

/** The dead properties in a file's metadata (entries that do not parse are skipped). */
export function propsFromMetadata(metadata: Record<string, string> | null | undefined): DeadProperty[] {
  const out: DeadProperty[] = [];
  for (const [key, value] of Object.entries(metadata ?? {})) {
    if (!key.startsWith(DAV_PREFIX)) continue;
    const rest = key.slice(DAV_PREFIX.length);
    const bar = rest.indexOf(SEPARATOR);
    // prop.go SplitN(…, "|", 2): no separator would panic there; skip it here.
    if (bar < 0) continue;
    try {
      const stored = JSON.parse(value) as { l?: unknown; i?: unknown };
      const innerXml = typeof stored.i === 'string' ? Buffer.from(stored.i, 'base64').toString('utf8') : '';
      out.push({ namespace: rest.slice(0, bar), name: rest.slice(bar + 1), innerXml, ...(typeof stored.l === 'string' && stored.l ? { lang: stored.l } : {}) });
    } catch {
      continue;
    }
  }
  return out;
}

/** The metadata patches for a PROPPATCH, checked against the limits above (EINVAL beyond them). */
export function metadataPatches(patch: DeadPropertyPatch, path: string): MetadataPatch[] {
  const fail = (why: string) => opError('EINVAL', why, 'set properties', path);
  const set = patch.set ?? [];
  const remove = patch.remove ?? [];
  if (set.length + remove.length > MAX_PROPS_PER_PATCH) throw fail(`more than ${MAX_PROPS_PER_PATCH} properties in one change`);
  const key = (p: { namespace: string; name: string }) => {
    // The separator inside the namespace would make the key ambiguous for prop.go's SplitN.
    if (p.namespace.includes(SEPARATOR)) throw fail(`a namespace with "${SEPARATOR}" cannot be stored in Cloudreve's dav: metadata`);
    if (p.name === '') throw fail('a property needs a name');
    return `${DAV_PREFIX}${p.namespace}${SEPARATOR}${p.name}`;
  };
  const out: MetadataPatch[] = [];
  for (const p of set) {
    if (Buffer.byteLength(p.innerXml) > MAX_PROP_XML_BYTES) throw fail(`property ${p.name} is over ${MAX_PROP_XML_BYTES} bytes`);
    out.push({ key: key(p), value: JSON.stringify({ ...(p.lang ? { l: p.lang } : {}), ...(p.innerXml ? { i: Buffer.from(p.innerXml).toString('base64') } : {}) }) });
  }
  for (const p of remove) out.push({ key: key(p), remove: true });
  return out;
}
