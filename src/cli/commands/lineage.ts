import type { Command } from 'commander';
import {
  loadPublicKey,
  loadVersionManifest,
  readLineage,
  type VersionRecord,
} from '../../integrity/index.js';
import { SqliteCatalogueStore } from '../../registry/sqlite-store.js';
import { findProjectDir } from '../../registry/store.js';
import { type OutputOptions, printResult } from '../output.js';

interface DatasetTrace {
  name: string;
  version?: string;
  rootDigest: string;
  inCatalogue: boolean;
  catalogueMatches?: boolean;
  committed?: Pick<VersionRecord, 'id' | 'createdAt' | 'message' | 'author' | 'recordCount'>;
  /** Records per source, from the version's manifest. */
  sources?: Record<string, number>;
}

/** `antidote lineage MODEL_DIR`: walk back from a model to its dataset versions and record sources. */
export function registerLineageCommand(program: Command): void {
  program
    .command('lineage <modelDir>')
    .description(
      'walk back from a model (its SLSA provenance) to the dataset versions and record sources',
    )
    .option('--key <file>', 'public key to verify the signed provenance with')
    .option('--require-signature', 'fail unless the provenance is signed and verifies')
    .option('--project <dir>', 'project folder (default: nearest with .antidote/)')
    .option('--json', 'print the result as JSON')
    .action(
      async (
        modelDir: string,
        o: OutputOptions & { key?: string; requireSignature?: boolean; project?: string },
      ) => {
        const l = await readLineage(modelDir, {
          ...(o.key ? { publicKey: await loadPublicKey(o.key) } : {}),
          ...(o.requireSignature ? { requireSignature: true } : {}),
        });
        const project = o.project ?? findProjectDir(process.cwd());
        const store = project ? SqliteCatalogueStore.open(project) : undefined;
        const traces: DatasetTrace[] = [];
        try {
          for (const d of l.datasets) {
            const t: DatasetTrace = {
              name: d.name,
              ...(d.version ? { version: d.version } : {}),
              rootDigest: d.rootDigest,
              inCatalogue: false,
            };
            const v = store && d.version ? store.findVersion('dataset', d.version) : undefined;
            if (v && store) {
              t.inCatalogue = true;
              t.catalogueMatches = v.rootDigest === d.rootDigest;
              t.committed = {
                id: v.id,
                createdAt: v.createdAt,
                message: v.message,
                ...(v.author ? { author: v.author } : {}),
                ...(v.recordCount !== undefined ? { recordCount: v.recordCount } : {}),
              };
              const m = await loadVersionManifest(v, store.objects);
              if (m.records) {
                const sources: Record<string, number> = {};
                for (const r of m.records.items)
                  sources[r.source ?? '(unknown)'] = (sources[r.source ?? '(unknown)'] ?? 0) + 1;
                t.sources = sources;
              }
            }
            traces.push(t);
          }
        } finally {
          store?.close();
        }
        const text = () => {
          const lines = [
            `model ${modelDir}: digest ${l.modelDigest} ${l.modelMatches ? '(matches provenance)' : '(DOES NOT MATCH its provenance)'}`,
            `provenance: ${l.signatureVerified ? `signed by ${l.signer}, verified` : 'not signature-checked'}; code ${l.codeVersion ?? '?'}; seed ${JSON.stringify(l.seed)}`,
            `hyperparameters: ${JSON.stringify(l.hyperparameters)}`,
          ];
          for (const t of traces) {
            lines.push(`  ← dataset ${t.version ?? t.name}  root ${t.rootDigest.slice(0, 16)}…`);
            if (!t.inCatalogue) lines.push('      not in the catalogue');
            else {
              lines.push(
                `      committed ${t.committed!.createdAt}: ${t.committed!.message}${t.catalogueMatches ? '' : '  (CATALOGUE DIGEST DIFFERS)'}`,
              );
              if (t.sources) {
                lines.push(
                  `      sources: ${Object.entries(t.sources)
                    .map(([s, n]) => `${s} (${n})`)
                    .join(', ')}`,
                );
              }
            }
          }
          return lines.join('\n');
        };
        printResult(o, text, { ...l, statement: undefined, datasets: traces });
      },
    );
}
