/** The emulator's failure: a Cloudreve code plus what goes into the envelope. */
export class EmuError extends Error {
  constructor(
    readonly code: number,
    msg: string,
    /** Envelope `data` (40073 lock conflicts carry the conflicting locks). */
    readonly data?: unknown,
    /** 40081: per-URI failures. */
    readonly aggregated?: Record<string, { code: number; msg: string; correlation_id?: string }>,
    /** Binding errors (40001 from ErrDeprecated) carry no correlation id. */
    readonly noCorrelation = false,
  ) {
    super(msg);
  }
}

/** Shorthand: throw new EmuError(...). */
export function emuFail(code: number, msg: string, data?: unknown): never {
  throw new EmuError(code, msg, data);
}

/** A parameter-binding failure (40001, no correlation id). */
export function paramError(msg: string): never {
  throw new EmuError(40001, msg, undefined, undefined, true);
}
