import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** The repository root (the folder holding `src/`). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** One import of a source file. */
export interface ImportEdge {
  /** The importing file, relative to the repository root (`src/cli/main.ts`). */
  readonly from: string;
  /** The module specifier as written (`../errors.js`, `zod`). */
  readonly specifier: string;
  /** The imported source file (relative to the root) for a relative specifier that resolves. */
  readonly target?: string;
  /** `import type` / `export type`: erased from the JavaScript, no run-time dependency. */
  readonly typeOnly: boolean;
  /** `import('...')`: loaded only when the expression runs. */
  readonly dynamic: boolean;
}

/** Every `.ts` file under `dir` (default `src/`), relative to the root, sorted. */
export function sourceFiles(dir = join(REPO_ROOT, 'src')): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
        out.push(relative(REPO_ROOT, p));
    }
  };
  walk(dir);
  return out.sort();
}

function resolveRelative(from: string, specifier: string): string | undefined {
  if (!specifier.startsWith('.')) return undefined;
  const abs = resolve(REPO_ROOT, dirname(from), specifier);
  for (const candidate of [abs.replace(/\.js$/, '.ts'), abs, `${abs}.ts`, join(abs, 'index.ts')]) {
    if (existsSync(candidate) && candidate.endsWith('.ts')) return relative(REPO_ROOT, candidate);
  }
  return undefined;
}

/**
 * The imports of one source file (`file` relative to the root), parsed with the TypeScript
 * compiler: static imports and re-exports, and `import('...')` calls with a literal specifier.
 */
export function importsOf(file: string): ImportEdge[] {
  const text = readFileSync(join(REPO_ROOT, file), 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, false, ts.ScriptKind.TS);
  const edges: ImportEdge[] = [];
  const add = (specifier: string, typeOnly: boolean, dynamic: boolean) => {
    const target = resolveRelative(file, specifier);
    edges.push({ from: file, specifier, ...(target ? { target } : {}), typeOnly, dynamic });
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      add(node.moduleSpecifier.text, node.importClause?.isTypeOnly ?? false, false);
    } else if (
      ts.isExportDeclaration(node) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      add(node.moduleSpecifier.text, node.isTypeOnly, false);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteralLike(node.arguments[0])
    ) {
      add(node.arguments[0].text, false, true);
    } else if (ts.isImportTypeNode(node)) {
      const arg = node.argument;
      if (ts.isLiteralTypeNode(arg) && ts.isStringLiteral(arg.literal))
        add(arg.literal.text, true, false);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return edges;
}

/** The package a bare specifier names (`@tensorflow/tfjs-core/dist/x` → `@tensorflow/tfjs-core`). */
export function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return (specifier.startsWith('@') ? parts.slice(0, 2) : parts.slice(0, 1)).join('/');
}

/**
 * What loading `entry` loads before any of its code runs: the source files and the packages
 * reached through static, non-type imports (dynamic `import()` is not followed).
 */
export function staticClosure(entry: string): {
  files: Set<string>;
  packages: Map<string, string>;
} {
  const files = new Set<string>();
  const packages = new Map<string, string>(); // package → the first file importing it
  const queue = [entry];
  for (let f = queue.shift(); f !== undefined; f = queue.shift()) {
    if (files.has(f)) continue;
    files.add(f);
    for (const e of importsOf(f)) {
      if (e.typeOnly || e.dynamic) continue;
      if (e.target) queue.push(e.target);
      else if (!e.specifier.startsWith('.') && !e.specifier.startsWith('node:')) {
        const p = packageOf(e.specifier);
        if (!packages.has(p)) packages.set(p, f);
      }
    }
  }
  return { files, packages };
}
