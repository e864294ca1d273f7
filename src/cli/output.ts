/** Options every command accepts for its output. */
export interface OutputOptions {
  /** Print one JSON document on stdout instead of human-readable text. */
  json?: boolean;
  /** No progress bars. */
  quiet?: boolean;
}

/** Prints a command's result: `value` as JSON with `--json`, else the human-readable `text`. */
export function printResult(
  options: OutputOptions,
  text: string | (() => string),
  value: unknown,
): void {
  if (options.json) {
    process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  } else {
    process.stdout.write(`${typeof text === 'function' ? text() : text}\n`);
  }
}

/** Formats a share in [0, 1] as a percentage with two decimals. */
export function pct(share: number): string {
  return `${(share * 100).toFixed(2)}%`;
}
