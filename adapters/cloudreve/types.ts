/** Shapes of the Cloudreve v4 JSON the adapter reads and writes (reference §1–§4). */

/** Every /api/v4 JSON answer: HTTP 200 with this envelope. */
export interface Envelope<T = unknown> {
  code: number;
  data?: T;
  msg: string;
  error?: string;
  correlation_id?: string;
  /** 40081: the per-URI failures, keyed by the URI as sent. */
  aggregated_error?: Record<string, { code: number; msg: string; correlation_id?: string }>;
}

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  /** RFC3339Nano with a zone offset. */
  access_expires: string;
  refresh_expires: string;
}

export interface LoginResponse {
  user: { id: string; email?: string; nickname?: string };
  token: TokenPair;
}

/** 0 = file, 1 = folder. */
export type FileType = 0 | 1;

export interface FileResponse {
  type: FileType;
  id: string;
  name: string;
  created_at: string;
  updated_at: string;
  size: number;
  metadata?: Record<string, string> | null;
  /** The object's URI, escaped like the request's. */
  path: string;
  capability?: string;
  owned?: boolean;
  primary_entity?: string;
}

export interface Pagination {
  page: number;
  page_size: number;
  total_items?: number;
  /** Present while more pages follow (cursor mode). */
  next_token?: string;
  is_cursor?: boolean;
}

export interface StoragePolicy {
  id: string;
  name: string;
  type: string;
  max_size: number;
  relay?: boolean;
  chunk_concurrency?: number;
  /** Extension allow list (lower-case, no dot); omitted when the policy has none or a deny list. */
  allowed_suffix?: string[];
  denied_suffix?: string[];
  /** Go RE2 name rules (not applied client-side, see upload/policy.ts). */
  allowed_name_regexp?: string;
  denied_name_regexp?: string;
  encryption?: boolean;
}

export interface ListResponse {
  files: FileResponse[];
  parent: FileResponse;
  pagination: Pagination;
  props: { capability: string; max_page_size: number; order_by_options: string[]; order_direction_options: string[] };
  context_hint: string | null;
  mixed_type: boolean;
  storage_policy?: StoragePolicy;
}

export interface UploadSessionResponse {
  session_id: string;
  upload_id: string;
  /** Bytes per chunk; 0 means "send the whole file as chunk 0" (relay). */
  chunk_size: number;
  /** Unix seconds. */
  expires: number;
  upload_urls?: string[];
  storage_policy: StoragePolicy;
  uri: string;
  callback_secret: string;
  /** Remote node: the `Authorization` value; Qiniu: the UpToken; Upyun: the form's `authorization`. */
  credential?: string;
  /** S3-like: the presigned CompleteMultipartUpload URL. Spelled camelCase by the server (service/explorer/response.go). */
  completeURL?: string;
  /** Upyun: the form's base64 `policy`. */
  upload_policy?: string;
  mime_type?: string;
}

export interface UploadSessionRequest {
  uri: string;
  size: number;
  last_modified?: number;
  mime_type?: string;
  entity_type?: '' | 'version';
  policy_id?: string;
}

export interface DownloadUrlResponse {
  urls: Array<{ url: string; stream_saver_display_name?: string }>;
  /** RFC3339, or null when the URL does not expire. */
  expires: string | null;
}

export interface CapacityResponse {
  total: number;
  used: number;
}

/** One stored content of a file (service/explorer/response.go Entity); type 0 = version. */
export interface EntityInfo {
  id: string;
  size: number;
  type: number;
  created_at: string;
  storage_policy?: StoragePolicy;
}

export interface ExtendedInfo {
  storage_policy?: StoragePolicy;
  storage_used: number;
  entities?: EntityInfo[];
}

/** PUT /share body (service/share/manage.go ShareCreateService). */
export interface ShareCreateRequest {
  uri: string;
  is_private?: boolean;
  /** 1–32 letters and digits (binding alphanum, max=32); ignored unless is_private. */
  password?: string;
  /** Downloads allowed (0 = no limit). */
  downloads?: number;
  /** Seconds from now (0 = never expires). */
  expire?: number;
}

/** One share in GET /share (service/explorer/response.go Share). */
export interface ShareResponse {
  id: string;
  name?: string;
  remain_downloads?: number;
  visited: number;
  downloaded?: number;
  expires?: string;
  password_protected?: boolean;
  created_at?: string;
  expired: boolean;
  url: string;
  is_private?: boolean;
  password?: string;
  source_uri?: string;
}

export interface ShareListResponse {
  shares: ShareResponse[];
  pagination: Pagination;
}
