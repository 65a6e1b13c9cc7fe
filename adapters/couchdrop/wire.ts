/**
 * The JSON shapes Couchdrop's file API sends, as the reference records them (docs examples).
 * The docs spell the size key `"size:"` (almost certainly a typo for `size`); both are accepted.
 */

/** One entry of `/file/ls` or `/file/lstat`: `filename` is a bare name, `modtime` Unix seconds. */
export interface CouchdropWireEntry {
  filename: string;
  size?: number;
  'size:'?: number;
  modtime: number;
  is_dir: boolean;
}

/** 200 body of `POST /file/ls`: direct children only, no pagination. */
export interface CouchdropLsBody {
  ls: CouchdropWireEntry[];
}

/** 200 body of `POST /file/lstat`. */
export interface CouchdropLstatBody {
  lstat: CouchdropWireEntry;
}

/** 200 body of `POST /authenticate`. */
export interface CouchdropAuthBody {
  token: string;
}

/** Every documented error body is `{"error": "..."}`; the 2016 service used `err`. */
export interface CouchdropErrorBody {
  error?: string;
  err?: string;
  message?: string;
}

/** The `parent-folder-not-found` marker a 404 upload (and mkdir) carries when the parent is missing. */
export const PARENT_FOLDER_NOT_FOUND = 'parent-folder-not-found';
