/**
 * Structural checks of a SARIF 2.1.0 log for tests: the parts of the OASIS SARIF 2.1.0 schema
 * (sarif-schema-2.1.0.json) that Antidote's logs use, written out by hand (no download): the
 * required properties, the enumerations, URI and index rules. Returns the problems found as
 * `path: problem` lines (empty when the log conforms).
 */

const LEVELS = ['none', 'note', 'warning', 'error'];
/** `logicalLocation.kind` values the SARIF 2.1.0 specification lists (§3.33.7). */
const LOGICAL_KINDS = [
  'function',
  'member',
  'module',
  'namespace',
  'parameter',
  'resource',
  'returnType',
  'type',
  'variable',
  'object',
  'array',
  'property',
  'value',
  'element',
  'text',
  'attribute',
  'comment',
  'declaration',
  'dtd',
  'processingInstruction',
];

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function checkMessage(m: unknown, path: string, out: string[]): void {
  // §3.11: a message has `text` or `id`.
  if (!isObj(m) || (typeof m.text !== 'string' && typeof m.id !== 'string'))
    out.push(`${path}: a message needs text or id`);
  else if (typeof m.text === 'string' && m.text.trim() === '') out.push(`${path}.text: empty`);
}

function checkLocation(l: unknown, path: string, out: string[]): void {
  if (!isObj(l)) {
    out.push(`${path}: not an object`);
    return;
  }
  if (l.id !== undefined && !(Number.isInteger(l.id) && (l.id as number) >= -1))
    out.push(`${path}.id: must be an integer ≥ -1`);
  if (l.physicalLocation !== undefined) {
    const p = l.physicalLocation;
    const a = isObj(p) ? p.artifactLocation : undefined;
    // §3.29.2: a physicalLocation has an artifactLocation (or an address).
    if (!isObj(a) || typeof a.uri !== 'string') {
      out.push(`${path}.physicalLocation.artifactLocation.uri: missing`);
    } else {
      if (/^(?:[a-z]+:|\/)/i.test(a.uri) && a.uriBaseId !== undefined)
        out.push(`${path}: an absolute uri cannot have a uriBaseId`);
      if (/^\//.test(a.uri)) out.push(`${path}: absolute file path ${a.uri}`);
      try {
        decodeURI(a.uri);
      } catch {
        out.push(`${path}: uri ${a.uri} is not a valid URI reference`);
      }
    }
  }
  if (l.logicalLocations !== undefined) {
    if (!Array.isArray(l.logicalLocations)) out.push(`${path}.logicalLocations: not an array`);
    else
      l.logicalLocations.forEach((ll: unknown, i) => {
        const lp = `${path}.logicalLocations[${i}]`;
        if (!isObj(ll)) {
          out.push(`${lp}: not an object`);
          return;
        }
        if (typeof ll.name !== 'string' && typeof ll.fullyQualifiedName !== 'string')
          out.push(`${lp}: needs name or fullyQualifiedName`);
        if (ll.kind !== undefined && !LOGICAL_KINDS.includes(String(ll.kind)))
          out.push(`${lp}.kind: ${String(ll.kind)} is not a SARIF kind`);
      });
  }
  if (l.message !== undefined) checkMessage(l.message, `${path}.message`, out);
  if (l.physicalLocation === undefined && l.logicalLocations === undefined)
    out.push(`${path}: neither a physical nor a logical location`);
}

/** The problems of `log` as a SARIF 2.1.0 log (see the file's note). */
export function sarifProblems(log: unknown): string[] {
  const out: string[] = [];
  if (!isObj(log)) return ['$: not an object'];
  if (log.version !== '2.1.0') out.push('$.version: must be "2.1.0"');
  if (log.$schema !== undefined && typeof log.$schema !== 'string')
    out.push('$.$schema: not a URI');
  if (!Array.isArray(log.runs)) return [...out, '$.runs: required array'];
  log.runs.forEach((run: unknown, r) => {
    const rp = `$.runs[${r}]`;
    if (!isObj(run)) {
      out.push(`${rp}: not an object`);
      return;
    }
    const driver = isObj(run.tool) ? run.tool.driver : undefined;
    if (!isObj(driver) || typeof driver.name !== 'string' || driver.name === '') {
      out.push(`${rp}.tool.driver.name: required`);
      return;
    }
    const rules = (driver.rules ?? []) as unknown[];
    if (!Array.isArray(rules)) {
      out.push(`${rp}.tool.driver.rules: not an array`);
      return;
    }
    const ids = new Set<string>();
    rules.forEach((rule: unknown, i) => {
      const p = `${rp}.tool.driver.rules[${i}]`;
      if (!isObj(rule) || typeof rule.id !== 'string') {
        out.push(`${p}.id: required`);
        return;
      }
      if (ids.has(rule.id)) out.push(`${p}.id: duplicate ${rule.id}`);
      ids.add(rule.id);
      for (const k of ['shortDescription', 'fullDescription', 'help'])
        if (rule[k] !== undefined) checkMessage(rule[k], `${p}.${k}`, out);
      const level = isObj(rule.defaultConfiguration) ? rule.defaultConfiguration.level : undefined;
      if (level !== undefined && !LEVELS.includes(String(level)))
        out.push(`${p}.defaultConfiguration.level: ${String(level)}`);
    });
    if (run.results === undefined) return;
    if (!Array.isArray(run.results)) {
      out.push(`${rp}.results: not an array`);
      return;
    }
    run.results.forEach((res: unknown, i) => {
      const p = `${rp}.results[${i}]`;
      if (!isObj(res)) {
        out.push(`${p}: not an object`);
        return;
      }
      checkMessage(res.message, `${p}.message`, out);
      if (res.ruleId !== undefined && typeof res.ruleId !== 'string') out.push(`${p}.ruleId`);
      if (res.ruleIndex !== undefined) {
        const k = res.ruleIndex as number;
        const rule = rules[k] as Obj | undefined;
        if (!Number.isInteger(k) || k < -1 || (k >= 0 && !rule))
          out.push(`${p}.ruleIndex: ${k} names no rule`);
        else if (rule && res.ruleId !== undefined && rule.id !== res.ruleId)
          out.push(`${p}: ruleId ${String(res.ruleId)} is not rules[${k}].id ${String(rule.id)}`);
      }
      if (res.ruleId !== undefined && rules.length && !ids.has(String(res.ruleId)))
        out.push(`${p}.ruleId: ${String(res.ruleId)} is not a rule of the driver`);
      if (res.level !== undefined && !LEVELS.includes(String(res.level)))
        out.push(`${p}.level: ${String(res.level)}`);
      for (const key of ['locations', 'relatedLocations']) {
        const list = res[key];
        if (list === undefined) continue;
        if (!Array.isArray(list)) out.push(`${p}.${key}: not an array`);
        else
          for (const [j, l] of (list as unknown[]).entries())
            checkLocation(l, `${p}.${key}[${j}]`, out);
      }
      if (Array.isArray(res.relatedLocations)) {
        const seen = new Set<unknown>();
        for (const l of res.relatedLocations as Obj[]) {
          if (l.id !== undefined && seen.has(l.id)) out.push(`${p}.relatedLocations: duplicate id`);
          seen.add(l.id);
        }
      }
      if (res.partialFingerprints !== undefined) {
        if (!isObj(res.partialFingerprints)) out.push(`${p}.partialFingerprints: not an object`);
        else
          for (const [k, v] of Object.entries(res.partialFingerprints))
            if (typeof v !== 'string') out.push(`${p}.partialFingerprints.${k}: not a string`);
      }
    });
  });
  return out;
}
