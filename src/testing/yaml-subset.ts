/**
 * A strict parser for the block subset of YAML 1.2 that Antidote's own YAML files use
 * (`action.yml`): block mappings, block sequences (`- item`, `- key: value`), plain, single- and
 * double-quoted scalars, literal block scalars (`|`), comments. Everything else (flow
 * collections, anchors, aliases, tags, folded scalars, several documents, tabs, a plain scalar
 * holding `: ` or ` #`) is an error naming the line, never a silent misreading: the tests check
 * the file's structure without a YAML package. Scalars stay strings (as GitHub reads action
 * inputs).
 */

/** A parsed value: a string, a list or a mapping. */
export type YamlValue = string | YamlValue[] | { [key: string]: YamlValue };

interface Line {
  readonly no: number;
  readonly indent: number;
  readonly text: string;
}

function fail(no: number, message: string): never {
  throw new Error(`yaml line ${no}: ${message}`);
}

/** The line without its comment (a `#` at the start or after a space, outside quotes). */
function stripComment(raw: string): string {
  let quote: string | undefined;
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i]!;
    if (quote) {
      if (ch === quote) quote = undefined;
    } else if (ch === "'" || ch === '"') {
      if (i === 0 || /[\s:-]/.test(raw[i - 1]!)) quote = ch;
    } else if (ch === '#' && (i === 0 || /\s/.test(raw[i - 1]!))) {
      return raw.slice(0, i).trimEnd();
    }
  }
  return raw.trimEnd();
}

function scalar(text: string, no: number): string {
  const t = text.trim();
  if (t.startsWith("'")) {
    if (!/^'(?:[^']|'')*'$/.test(t)) fail(no, `bad single-quoted scalar ${t}`);
    return t.slice(1, -1).replaceAll("''", "'");
  }
  if (t.startsWith('"')) {
    try {
      return JSON.parse(t) as string;
    } catch {
      fail(no, `bad double-quoted scalar ${t}`);
    }
  }
  if (/^[[{&*!|>%@`]/.test(t)) fail(no, `unsupported value ${t}`);
  if (t.includes(': ') || t.endsWith(':') || t.includes(' #')) {
    fail(no, `a plain scalar cannot hold ": " or " #": quote it (${t})`);
  }
  return t;
}

class Parser {
  private i = 0;
  constructor(
    private readonly lines: Line[],
    private readonly raw: readonly string[],
  ) {}

  parse(): YamlValue {
    const v = this.block(0);
    if (this.i < this.lines.length) fail(this.lines[this.i]!.no, 'unexpected indentation');
    return v;
  }

  private block(indent: number): YamlValue {
    const first = this.lines[this.i];
    if (!first || first.indent < indent) return '';
    return first.text.startsWith('- ') || first.text === '-'
      ? this.sequence(first.indent)
      : this.mapping(first.indent);
  }

  private sequence(indent: number): YamlValue[] {
    const out: YamlValue[] = [];
    for (let l = this.lines[this.i]; l && l.indent === indent; l = this.lines[this.i]) {
      // A key after a list at its key's own indentation ends the list.
      if (!(l.text.startsWith('- ') || l.text === '-')) break;
      const rest = l.text.slice(1).trimStart();
      this.i++;
      if (rest === '') out.push(this.block(indent + 1));
      else if (/^[^'"][^:]*:(\s|$)/.test(rest)) {
        // `- key: value`: a mapping whose keys sit at the column of `key`.
        const col = indent + l.text.length - rest.length;
        this.i--;
        this.lines.splice(this.i, 1, { no: l.no, indent: col, text: rest });
        out.push(this.mapping(col));
      } else out.push(scalar(rest, l.no));
    }
    return out;
  }

  private mapping(indent: number): { [key: string]: YamlValue } {
    const out: { [key: string]: YamlValue } = {};
    for (let l = this.lines[this.i]; l && l.indent === indent; l = this.lines[this.i]) {
      const m = /^([^'"\s][^:]*):(?:\s+(.*))?$/.exec(l.text);
      if (!m) fail(l.no, `expected "key: value", got ${l.text}`);
      const key = m[1]!.trim();
      if (Object.hasOwn(out, key)) fail(l.no, `duplicate key ${key}`);
      const value = m[2]?.trim() ?? '';
      this.i++;
      if (value === '|' || value === '|-') out[key] = this.literal(indent, l.no, value === '|-');
      else if (value !== '') out[key] = scalar(value, l.no);
      else {
        const next = this.lines[this.i];
        // A sequence may sit at the key's own indentation.
        const nested =
          next && (next.indent > indent || (next.indent === indent && next.text.startsWith('- ')));
        out[key] = nested ? this.block(next.indent) : '';
      }
    }
    return out;
  }

  /** A literal block scalar: the raw lines (comments kept) more indented than its key. */
  private literal(keyIndent: number, no: number, strip: boolean): string {
    const start = no; // 1-based line of the key; its content starts on the next raw line
    let end = start;
    let indent = -1;
    while (end < this.raw.length) {
      const r = this.raw[end]!;
      if (r.trim() !== '') {
        const ind = r.length - r.trimStart().length;
        if (ind <= keyIndent) break;
        if (indent < 0) indent = ind;
        if (ind < indent) fail(end + 1, 'literal block less indented than its first line');
      }
      end++;
    }
    if (indent < 0) fail(no, 'empty literal block');
    while (this.lines[this.i] && this.lines[this.i]!.no <= end) this.i++;
    const body = this.raw.slice(start, end).map((r) => r.slice(indent));
    while (body.length > 0 && body.at(-1)!.trim() === '') body.pop();
    return strip ? body.join('\n') : `${body.join('\n')}\n`;
  }
}

/** Parses `text` (the subset above); throws an `Error` naming the line otherwise. */
export function parseYamlSubset(text: string): YamlValue {
  const raw = text.split('\n');
  const lines: Line[] = [];
  raw.forEach((r, k) => {
    if (/^\s*\t/.test(r)) fail(k + 1, 'tab in indentation');
    if (/^(---|\.\.\.)(\s|$)/.test(r)) fail(k + 1, 'several documents are not supported');
    const text = stripComment(r);
    if (text.trim() === '') return;
    lines.push({ no: k + 1, indent: text.length - text.trimStart().length, text: text.trim() });
  });
  return new Parser(lines, raw).parse();
}
