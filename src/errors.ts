/**
 * The one error type of Antidote. Every failure the library can foresee is an `AntidoteError`
 * with a machine-readable {@link AntidoteErrorCode}; the message says what was wrong and where
 * (file, record, field). The CLI maps codes to exit codes and never prints a stack trace for them.
 */

/** Every error code, with the process exit code the CLI uses for it. */
export const ERROR_CODES = {
  /** A command-line or API argument is invalid (out of range, wrong type, unknown name). */
  INVALID_ARGUMENT: 2,
  /** A configuration or policy file does not match its schema. */
  INVALID_CONFIG: 2,
  /** A file is not in the expected format (bad magic, truncated, malformed header, ragged rows). */
  INVALID_FORMAT: 65,
  /** A file uses a data type Antidote does not read (e.g. complex128 in a .npy). */
  UNSUPPORTED_DTYPE: 65,
  /** Array shapes disagree (features vs labels, model input vs data, image size). */
  SHAPE_MISMATCH: 65,
  /** A label lies outside [0, number of classes). */
  LABEL_OUT_OF_RANGE: 65,
  /** A feature is NaN or infinite. */
  NON_FINITE_VALUE: 65,
  /**
   * An input declares more than a configured resource limit allows (pixels, elements, bytes,
   * ZIP entries, inflated bytes, nesting depth: `util/limits.ts`).
   */
  LIMIT_EXCEEDED: 65,
  /** A required file, dataset, model, version or key does not exist. */
  NOT_FOUND: 66,
  /** A file already exists where Antidote would not overwrite it. */
  ALREADY_EXISTS: 73,
  /** Reading or writing a file failed. */
  IO_ERROR: 74,
  /** Content does not match its recorded digest (tampered, truncated, missing or extra file). */
  INTEGRITY_MISMATCH: 3,
  /** A signature is missing, malformed, made by an untrusted key, or does not verify. */
  SIGNATURE_INVALID: 3,
  /** Decryption failed: wrong key, tampered, reordered or truncated ciphertext. */
  DECRYPTION_FAILED: 3,
  /** The hash-chained audit log has been edited, reordered or truncated. */
  AUDIT_CHAIN_BROKEN: 3,
  /** The access policy denies the action to the acting principal. */
  PERMISSION_DENIED: 4,
  /** A deployment gate or policy check did not pass. */
  GATE_FAILED: 1,
  /** The state does not allow the operation (e.g. promoting an unverified model). */
  INVALID_STATE: 5,
  /** The ML engine failed (backend initialisation, kernel, out of memory). */
  ENGINE_ERROR: 70,
} as const satisfies Record<string, number>;

/** Machine-readable reason of an {@link AntidoteError}. */
export type AntidoteErrorCode = keyof typeof ERROR_CODES;

/** Extra structured context attached to an error (never secrets). */
export interface AntidoteErrorDetails {
  /** The file, directory or URL the error is about. */
  readonly path?: string;
  /** Anything else that helps a user locate the problem (record id, field, offset). */
  readonly [key: string]: unknown;
}

/**
 * `text` with its control characters (C0 but tab and newline, DEL, C1 — ANSI escape sequences
 * included) written as `\xNN`: error messages quote names and values from input files, and a
 * terminal must never receive their raw control bytes.
 */
export function escapeControl(text: string): string {
  let out = '';
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a) || (c >= 0x7f && c <= 0x9f)) {
      out += `${text.slice(from, i)}\\x${c.toString(16).padStart(2, '0')}`;
      from = i + 1;
    }
  }
  return from === 0 ? text : out + text.slice(from);
}

/**
 * The single typed error thrown by the Antidote library. Its message has control characters
 * escaped ({@link escapeControl}).
 */
export class AntidoteError extends Error {
  override readonly name = 'AntidoteError';
  readonly code: AntidoteErrorCode;
  readonly details: AntidoteErrorDetails;

  constructor(
    code: AntidoteErrorCode,
    message: string,
    details: AntidoteErrorDetails = {},
    options?: { cause?: unknown },
  ) {
    super(escapeControl(message), options);
    this.code = code;
    this.details = details;
  }

  /** The exit code the CLI uses for this error. */
  get exitCode(): number {
    return ERROR_CODES[this.code];
  }

  /** A JSON-serialisable view (for `--json` output and HTTP error bodies). */
  toJSON(): { code: AntidoteErrorCode; message: string; details: AntidoteErrorDetails } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

/** True when `e` is an {@link AntidoteError}, optionally with the given code. */
export function isAntidoteError(e: unknown, code?: AntidoteErrorCode): e is AntidoteError {
  return e instanceof AntidoteError && (code === undefined || e.code === code);
}
