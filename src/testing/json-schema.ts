/**
 * A small JSON Schema (draft 2020-12) validator for tests: the keywords zod 4's `toJSONSchema`
 * emits for Antidote's schemas (`type`, `properties`, `required`, `additionalProperties`,
 * `propertyNames`, `items`, `enum`, `const`, `pattern`, `minimum`, `maximum`, `exclusiveMinimum`,
 * `exclusiveMaximum`, `minLength`, `maxLength`, `minItems`, `maxItems`, `anyOf`, `oneOf`,
 * `allOf`, `$ref` to `#/$defs/…`). An unknown keyword fails loudly, so a schema that grows beyond
 * this subset is noticed instead of silently accepted. Annotations (`$schema`, `$id`, `title`,
 * `description`, `default`, `format`) are not checked.
 */

/** A JSON Schema node. */
export type JsonSchema = boolean | { readonly [keyword: string]: unknown };

const ANNOTATIONS = new Set([
  '$schema',
  '$id',
  '$defs',
  'title',
  'description',
  'default',
  'format',
  'examples',
]);

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function typeMatches(v: unknown, t: string): boolean {
  const actual = typeOf(v);
  return actual === t || (t === 'number' && actual === 'integer');
}

/**
 * Validates `value` against `schema` (the root, for `$ref`s); returns the errors as
 * `path: problem` lines (empty when valid).
 */
export function validateJsonSchema(
  schema: JsonSchema,
  value: unknown,
  root: JsonSchema = schema,
  path = '$',
): string[] {
  if (schema === true) return [];
  if (schema === false) return [`${path}: no value is allowed here`];
  const errors: string[] = [];
  const s = schema as Record<string, unknown>;
  const sub = (k: JsonSchema, v: unknown, p: string) => validateJsonSchema(k, v, root, p);
  for (const [key, arg] of Object.entries(s)) {
    if (ANNOTATIONS.has(key)) continue;
    switch (key) {
      case '$ref': {
        const ref = String(arg);
        if (!ref.startsWith('#/')) throw new Error(`unsupported $ref ${ref}`);
        let node: unknown = root;
        for (const part of ref.slice(2).split('/')) node = (node as Record<string, unknown>)[part];
        errors.push(...sub(node as JsonSchema, value, path));
        break;
      }
      case 'type': {
        const types = Array.isArray(arg) ? (arg as string[]) : [String(arg)];
        if (!types.some((t) => typeMatches(value, t)))
          errors.push(`${path}: expected ${types.join(' or ')}, got ${typeOf(value)}`);
        break;
      }
      case 'const':
        if (JSON.stringify(value) !== JSON.stringify(arg))
          errors.push(`${path}: expected ${JSON.stringify(arg)}`);
        break;
      case 'enum':
        if (!(arg as unknown[]).some((e) => JSON.stringify(e) === JSON.stringify(value)))
          errors.push(`${path}: not one of ${JSON.stringify(arg)}`);
        break;
      case 'pattern':
        if (typeof value === 'string' && !new RegExp(String(arg), 'u').test(value))
          errors.push(`${path}: does not match ${String(arg)}`);
        break;
      case 'minLength':
      case 'maxLength':
        if (typeof value === 'string') {
          const n = [...value].length;
          if (key === 'minLength' ? n < Number(arg) : n > Number(arg))
            errors.push(`${path}: length ${n} breaks ${key} ${String(arg)}`);
        }
        break;
      case 'minimum':
      case 'maximum':
      case 'exclusiveMinimum':
      case 'exclusiveMaximum':
        if (typeof value === 'number') {
          const a = Number(arg);
          const ok =
            key === 'minimum'
              ? value >= a
              : key === 'maximum'
                ? value <= a
                : key === 'exclusiveMinimum'
                  ? value > a
                  : value < a;
          if (!ok) errors.push(`${path}: ${value} breaks ${key} ${a}`);
        }
        break;
      case 'minItems':
      case 'maxItems':
        if (
          Array.isArray(value) &&
          (key === 'minItems' ? value.length < Number(arg) : value.length > Number(arg))
        )
          errors.push(`${path}: ${value.length} items break ${key} ${String(arg)}`);
        break;
      case 'items':
        if (Array.isArray(value))
          for (const [i, v] of value.entries())
            errors.push(...sub(arg as JsonSchema, v, `${path}[${i}]`));
        break;
      case 'properties':
        if (typeOf(value) === 'object') {
          const obj = value as Record<string, unknown>;
          for (const [k, ps] of Object.entries(arg as Record<string, JsonSchema>))
            if (k in obj) errors.push(...sub(ps, obj[k], `${path}.${k}`));
        }
        break;
      case 'required':
        if (typeOf(value) === 'object')
          for (const k of arg as string[])
            if (!(k in (value as object))) errors.push(`${path}: missing required "${k}"`);
        break;
      case 'additionalProperties':
        if (typeOf(value) === 'object') {
          const known = new Set(Object.keys((s.properties as object | undefined) ?? {}));
          for (const [k, v] of Object.entries(value as Record<string, unknown>))
            if (!known.has(k)) errors.push(...sub(arg as JsonSchema, v, `${path}.${k}`));
        }
        break;
      case 'propertyNames':
        if (typeOf(value) === 'object')
          for (const k of Object.keys(value as object))
            errors.push(...sub(arg as JsonSchema, k, `${path}{${k}}`));
        break;
      case 'anyOf':
      case 'oneOf': {
        const passing = (arg as JsonSchema[]).filter((a) => sub(a, value, path).length === 0);
        if (passing.length === 0 || (key === 'oneOf' && passing.length > 1))
          errors.push(`${path}: matches ${passing.length} of the ${key} alternatives`);
        break;
      }
      case 'allOf':
        for (const a of arg as JsonSchema[]) errors.push(...sub(a, value, path));
        break;
      default:
        throw new Error(`validateJsonSchema: unsupported keyword "${key}" at ${path}`);
    }
  }
  return errors;
}
