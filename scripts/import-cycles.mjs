#!/usr/bin/env node
/**
 * Lists import cycles among the modules of src/ (strongly connected components of the static
 * import graph, with the TypeScript compiler API). Type-only imports are left out by default
 * (they vanish at run time); `--types` counts them too. Exits 1 when there is a cycle.
 *
 *   node scripts/import-cycles.mjs [--types] [root]
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

const args = process.argv.slice(2);
const withTypes = args.includes('--types');
const root = resolve(args.find((a) => !a.startsWith('--')) ?? 'src');

const files = [];
const walk = (dir) => {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (/\.(ts|mts)$/.test(e.name) && !e.name.endsWith('.d.ts')) files.push(p);
  }
};
walk(root);
const known = new Set(files);

/** The module a relative specifier names (`./x.js` → `./x.ts`), or undefined. */
const target = (from, spec) => {
  if (!spec.startsWith('.')) return undefined;
  const base = resolve(dirname(from), spec);
  for (const c of [
    base.replace(/\.js$/, '.ts'),
    base.replace(/\.mjs$/, '.mts'),
    `${base}.ts`,
    join(base, 'index.ts'),
  ]) {
    if (known.has(c)) return c;
  }
  return undefined;
};

const edges = new Map();
for (const f of files) {
  const sf = ts.createSourceFile(f, readFileSync(f, 'utf8'), ts.ScriptTarget.Latest, true);
  const out = new Set();
  const add = (spec) => {
    const t = target(f, spec);
    if (t) out.add(t);
  };
  const visit = (node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const typeOnly =
        clause?.isTypeOnly ||
        (clause &&
          !clause.name &&
          clause.namedBindings &&
          ts.isNamedImports(clause.namedBindings) &&
          clause.namedBindings.elements.length > 0 &&
          clause.namedBindings.elements.every((e) => e.isTypeOnly));
      if (withTypes || !typeOnly) add(node.moduleSpecifier.text);
    } else if (
      ts.isExportDeclaration(node) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      if (withTypes || !node.isTypeOnly) add(node.moduleSpecifier.text);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      // A dynamic import runs later, not at load: still a dependency, counted like a static one.
      add(node.arguments[0].text);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  edges.set(f, out);
}

// Tarjan's strongly connected components.
let index = 0;
const idx = new Map();
const low = new Map();
const stack = [];
const on = new Set();
const cycles = [];
const strong = (v) => {
  idx.set(v, index);
  low.set(v, index++);
  stack.push(v);
  on.add(v);
  for (const w of edges.get(v)) {
    if (!idx.has(w)) {
      strong(w);
      low.set(v, Math.min(low.get(v), low.get(w)));
    } else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
  }
  if (low.get(v) === idx.get(v)) {
    const comp = [];
    let w;
    do {
      w = stack.pop();
      on.delete(w);
      comp.push(w);
    } while (w !== v);
    if (comp.length > 1 || edges.get(v).has(v)) cycles.push(comp);
  }
};
for (const f of files) if (!idx.has(f)) strong(f);

const rel = (p) => relative(process.cwd(), p);
if (cycles.length === 0) {
  console.log(
    `no import cycles among ${files.length} modules${withTypes ? ' (type imports included)' : ''}`,
  );
} else {
  for (const c of cycles) console.log(`cycle: ${c.map(rel).sort().join(' <-> ')}`);
  process.exitCode = 1;
}
