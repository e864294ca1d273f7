import { describe, expect, it } from 'vitest';
import { type ImportEdge, importsOf, sourceFiles } from './testing/import-graph.js';

/**
 * The layers of src/, low to high (ARCHITECTURE.md, ../shared/DESIGN.md). A module may import from
 * its own layer and the layers below, never from a layer above. The root index (`src/index.ts`)
 * sits on top: it re-exports the toolkit, and nothing inside src/ imports it.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['errors.ts', 'version.ts', 'util', 'numeric'],
  ['data', 'integrity'],
  ['engine'],
  ['attacks'],
  ['defenses', 'eval'],
  ['report'],
  ['registry', 'jobs'],
  ['audit'],
  ['server', 'cli'],
  ['index.ts'],
];

/**
 * The folder (or top-level file) of `file` under src/: `src/data/load.ts` → `data`. A test at the
 * top of src/ belongs with the file it tests (`errors.test.ts` → `errors.ts`), or with the root
 * index when it tests the whole package (`exports.test.ts`).
 */
function areaOf(file: string): string {
  const area = file.split('/')[1] ?? file;
  if (!area.endsWith('.test.ts')) return area;
  const subject = area.replace(/\.test\.ts$/, '.ts');
  return LAYERS.some((l) => l.includes(subject)) ? subject : 'index.ts';
}

function layerOfArea(area: string): number {
  const layer = LAYERS.findIndex((l) => l.includes(area));
  if (layer < 0)
    throw new Error(`src/${area} is in no layer: add it to LAYERS in src/architecture.test.ts`);
  return layer;
}

/** Test support: test files, the `test-utils/` folders and `src/testing/`. */
const isTestSupport = (file: string) =>
  file.endsWith('.test.ts') || file.includes('/test-utils/') || file.startsWith('src/testing/');

const files = sourceFiles();
const edges: ImportEdge[] = files.flatMap(importsOf);
const internal = edges.filter((e) => e.target !== undefined) as (ImportEdge & { target: string })[];
const short = (f: string) => f.slice('src/'.length);
const label = (e: { from: string; target: string }) => `${short(e.from)} -> ${short(e.target)}`;

/**
 * The layer of a file. A shared test helper in src/testing/ takes the layer of the highest module
 * it needs, so that a test may use it only from that layer up.
 */
const layerCache = new Map<string, number>();
function layerOf(file: string, seen = new Set<string>()): number {
  const cached = layerCache.get(file);
  if (cached !== undefined) return cached;
  if (!file.startsWith('src/testing/')) return layerOfArea(areaOf(file));
  if (seen.has(file)) return 0;
  seen.add(file);
  let layer = 0;
  for (const e of internal) {
    if (e.from === file) layer = Math.max(layer, layerOf(e.target, seen));
  }
  layerCache.set(file, layer);
  return layer;
}

/** The strongly connected components of more than one file (Tarjan), each sorted. */
function importCycles(links: readonly { from: string; target: string }[]): string[][] {
  const next = new Map<string, string[]>();
  for (const e of links) next.set(e.from, [...(next.get(e.from) ?? []), e.target]);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v) as number);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      for (let w = stack.pop(); w !== undefined; w = w === v ? undefined : stack.pop()) {
        onStack.delete(w);
        component.push(w);
      }
      if (component.length > 1) cycles.push(component.sort());
    }
  };
  for (const v of next.keys()) if (!index.has(v)) visit(v);
  return cycles;
}

describe('the layers of src/', () => {
  it('puts every folder of src/ in a layer', () => {
    for (const f of files) {
      if (!f.startsWith('src/testing/')) expect(() => layerOfArea(areaOf(f)), f).not.toThrow();
    }
  });

  it('finds the imports (sanity check of the parser)', () => {
    expect(internal.length).toBeGreaterThan(500);
    expect(internal.map(label)).toContain('data/load.ts -> errors.ts');
    expect(internal.map(label)).toContain('cli/program.ts -> cli/commands/info.ts'); // import()
  });

  it('has no module importing from a higher layer', () => {
    const upward = internal.filter((e) => layerOf(e.target) > layerOf(e.from)).map(label);
    expect(upward).toEqual([]);
  });

  it('has no library module importing a test file, a test-utils helper or src/testing/', () => {
    const leaks = internal
      .filter((e) => !isTestSupport(e.from) && isTestSupport(e.target))
      .map(label);
    expect(leaks).toEqual([]);
  });

  it('has no import cycle between files', () => {
    const runtime = internal.filter((e) => !e.typeOnly && !e.dynamic);
    const cycles = importCycles(runtime).map((c) => c.map(short).join(' <-> '));
    expect(cycles).toEqual([]);
  });

  it('never lets the CLI or the server load the root index (it loads the whole toolkit)', () => {
    const intoRoot = internal.filter((e) => e.target === 'src/index.ts' && !isTestSupport(e.from));
    expect(intoRoot.map(label)).toEqual([]);
  });
});
