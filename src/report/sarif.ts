import { createHash } from 'node:crypto';
import type { Dataset } from '../data/dataset.js';
import type { LoadedDataset } from '../data/load.js';
import { DETECTORS } from '../defenses/registry.js';
import type { MergedScan } from '../defenses/scan.js';
import type { VerdictEvidence } from '../defenses/verdict.js';
import { version } from '../version.js';

/*
 * SARIF 2.1.0 (OASIS, https://docs.oasis-open.org/sarif/sarif/v2.1.0/) output of a scan, so
 * code-scanning dashboards (GitHub code scanning, Azure DevOps, SonarQube) show poisoning
 * findings next to code findings. One rule per detector (`antidote/<name>`, e.g. `antidote/ac`);
 * one result per flagged record group: the records the merged decision flags, grouped by the
 * detector that flagged them, their class and their source (contributor); a strong class-level
 * finding that flagged no record gets a class-level result of its own. Levels follow the scan's
 * verdict: `error` for the evidence of a FAIL (a confirmed finding: the detector's class, or a
 * class it confirms), `warning` for everything else (REVIEW).
 */

/** SARIF version written. */
export const SARIF_VERSION = '2.1.0';
/** The SARIF 2.1.0 JSON Schema's address (`$schema` of the log). */
export const SARIF_SCHEMA_URI = 'https://json.schemastore.org/sarif-2.1.0.json';

/** A SARIF message. */
export interface SarifMessage {
  readonly text: string;
}

/** A SARIF logical location (a class or a record of a dataset). */
export interface SarifLogicalLocation {
  readonly name: string;
  readonly fullyQualifiedName: string;
  readonly kind: string;
}

/** A SARIF location: the dataset file or folder and/or logical locations inside it. */
export interface SarifLocation {
  readonly id?: number;
  readonly physicalLocation?: {
    readonly artifactLocation: { readonly uri: string; readonly uriBaseId?: string };
  };
  readonly logicalLocations?: readonly SarifLogicalLocation[];
  readonly message?: SarifMessage;
}

/** A SARIF result (one flagged record group). */
export interface SarifResult {
  readonly ruleId: string;
  readonly ruleIndex: number;
  readonly level: 'error' | 'warning' | 'note' | 'none';
  readonly message: SarifMessage;
  readonly locations: readonly SarifLocation[];
  readonly relatedLocations?: readonly SarifLocation[];
  readonly partialFingerprints: Readonly<Record<string, string>>;
  readonly properties: Readonly<Record<string, unknown>>;
}

/** A SARIF reporting descriptor (one detector). */
export interface SarifRule {
  readonly id: string;
  readonly name: string;
  readonly shortDescription: SarifMessage;
  readonly fullDescription: SarifMessage;
  readonly help: SarifMessage;
  readonly defaultConfiguration: { readonly level: 'warning' };
  readonly properties: Readonly<Record<string, unknown>>;
}

/** A SARIF 2.1.0 log with one run. */
export interface SarifLog {
  readonly $schema: string;
  readonly version: typeof SARIF_VERSION;
  readonly runs: readonly [
    {
      readonly tool: {
        readonly driver: {
          readonly name: string;
          readonly version: string;
          readonly semanticVersion: string;
          readonly rules: readonly SarifRule[];
        };
      };
      readonly artifacts?: readonly { readonly location: { readonly uri: string } }[];
      readonly results: readonly SarifResult[];
      readonly properties: Readonly<Record<string, unknown>>;
    },
  ];
}

/** Where the scanned dataset lives, for the results' locations. */
export interface SarifDatasetLocation {
  /**
   * The dataset as given, relative to the repository root or working directory (a file or a
   * folder), or a built-in name (then results have logical locations only).
   */
  readonly path: string;
  /** Whether `path` is a file or folder (false for built-in and named datasets). */
  readonly onDisk: boolean;
  /**
   * Each record's own file relative to `path` (PNG class folders: `class/file.png`), when
   * records are files: their results point at those files too.
   */
  readonly recordFiles?: readonly string[] | undefined;
}

/**
 * The SARIF location of a loaded dataset shown as `path` (relative): files and folders are
 * physical locations, built-in and named datasets logical only; a PNG class folder's records
 * are files of their own (their ids, `class/file.png`, are their paths in the folder).
 */
export function sarifDatasetLocation(
  loaded: Pick<LoadedDataset, 'kind' | 'dataset'>,
  path: string,
): SarifDatasetLocation {
  const onDisk = loaded.kind !== 'builtin' && loaded.kind !== 'named';
  return {
    path,
    onDisk,
    ...(onDisk && loaded.kind === 'png-folder' ? { recordFiles: loaded.dataset.ids } : {}),
  };
}

/** What {@link scanToSarif} reads. */
export interface SarifInput {
  /** The records as the detectors saw them (ids, labels, classes, sources). */
  readonly ds: Pick<Dataset, 'ids' | 'y' | 'classes' | 'source'>;
  readonly scan: Pick<MergedScan, 'detectors' | 'reports' | 'flagged' | 'verdict'>;
  readonly dataset: SarifDatasetLocation;
}

/** Records listed by name per result (the full id list is in the result's properties). */
const MAX_RELATED = 100;

/** The rule id of a detector. */
export const sarifRuleId = (detector: string): string => `antidote/${detector}`;

function rule(detector: string): SarifRule {
  const entry = DETECTORS.find((d) => d.name === detector);
  const title = entry?.title ?? detector;
  const finds = entry?.finds ?? 'poisoned records';
  return {
    id: sarifRuleId(detector),
    name: title.replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string | undefined) =>
      (c ?? '').toUpperCase(),
    ),
    shortDescription: { text: `${title}: records that look poisoned (${finds})` },
    fullDescription: {
      text: `${title} (${entry?.paper ?? 'Antidote detector'}) flags training records that look poisoned; Antidote's merged scan decision keeps the records a quorum of detectors agree on.`,
    },
    help: {
      text: 'Review the flagged records (antidote audit writes them to suspicious.csv with report.html); quarantine them, retrain without them, and review the contributor they came from.',
    },
    defaultConfiguration: { level: 'warning' },
    properties: { tags: ['security', 'data-poisoning', finds] },
  };
}

/** Whether the records `detector` flagged in class `c` are the evidence of a FAIL verdict. */
function isFailEvidence(
  verdict: SarifInput['scan']['verdict'],
  detector: string,
  c: number,
): boolean {
  return (
    verdict.verdict === 'fail' &&
    verdict.evidence.some(
      (e: VerdictEvidence) =>
        e.classIndex === c &&
        e.confirmedBy.length > 0 &&
        (e.detector === detector || e.confirmedBy.includes(detector)),
    )
  );
}

const fingerprint = (...parts: string[]): string =>
  createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 32);

/** The physical location of the dataset (or of one record's file in it). */
function physical(uri: string): SarifLocation['physicalLocation'] {
  return { artifactLocation: { uri: encodeURI(uri), uriBaseId: '%SRCROOT%' } };
}

/**
 * A scan's findings as a SARIF 2.1.0 log (see the note at the top of this file): rules per
 * detector, one result per flagged record group (detector × class × source), levels from the
 * verdict. The log is deterministic: the same scan gives the same bytes.
 */
export function scanToSarif(input: SarifInput): SarifLog {
  const { ds, scan, dataset } = input;
  const rules = scan.detectors.map(rule);
  const results: SarifResult[] = [];
  const where = dataset.path;
  const covered = new Set<string>();
  scan.detectors.forEach((detector, k) => {
    const report = scan.reports[k]!;
    const groups = new Map<string, number[]>();
    for (let i = 0; i < ds.y.length; i++) {
      if (!scan.flagged[i] || !report.flagged[i]) continue;
      const key = `${ds.y[i]}\u0000${ds.source?.[i] ?? ''}`;
      const g = groups.get(key);
      if (g) g.push(i);
      else groups.set(key, [i]);
    }
    const keys = [...groups.keys()].sort((a, b) => {
      const [ca, sa] = a.split('\u0000');
      const [cb, sb] = b.split('\u0000');
      return Number(ca) - Number(cb) || (sa! < sb! ? -1 : sa! > sb! ? 1 : 0);
    });
    for (const key of keys) {
      const idx = groups.get(key)!;
      const c = ds.y[idx[0]!]!;
      const className = ds.classes[c] ?? String(c);
      const source = ds.source?.[idx[0]!];
      covered.add(`${detector}\u0000${c}`);
      const ids = idx.map((i) => ds.ids[i]!);
      const level = isFailEvidence(scan.verdict, detector, c) ? 'error' : 'warning';
      const shown = ids.slice(0, 5).join(', ');
      results.push({
        ruleId: sarifRuleId(detector),
        ruleIndex: k,
        level,
        message: {
          text: `${ids.length} record(s) of class "${className}"${source !== undefined ? ` from source "${source}"` : ''} flagged by ${rules[k]!.shortDescription.text.split(':')[0]} and the merged scan decision: ${shown}${ids.length > 5 ? ', …' : ''}. Scan verdict ${scan.verdict.verdict.toUpperCase()}: ${scan.verdict.reason}`,
        },
        locations: [
          {
            ...(dataset.onDisk ? { physicalLocation: physical(where) } : {}),
            logicalLocations: [
              { name: className, fullyQualifiedName: `${where}/${className}`, kind: 'namespace' },
            ],
          },
        ],
        relatedLocations: idx.slice(0, MAX_RELATED).map((i, j) => {
          const file = dataset.onDisk ? dataset.recordFiles?.[i] : undefined;
          return {
            id: j + 1,
            ...(file ? { physicalLocation: physical(`${where}/${file}`) } : {}),
            logicalLocations: [
              {
                name: ds.ids[i]!,
                fullyQualifiedName: `${where}/${className}/${ds.ids[i]!}`,
                kind: 'element',
              },
            ],
            message: { text: `record ${ds.ids[i]!}` },
          };
        }),
        partialFingerprints: {
          'antidoteRecordGroup/v1': fingerprint(detector, className, source ?? '', ...ids),
        },
        properties: {
          detector,
          class: className,
          ...(source !== undefined ? { source } : {}),
          records: ids.length,
          recordIds: ids,
        },
      });
    }
  });
  // A strong class-level finding without a flagged record still shows.
  for (const e of scan.verdict.evidence) {
    const k = scan.detectors.indexOf(e.detector);
    if (k < 0 || covered.has(`${e.detector}\u0000${e.classIndex}`)) continue;
    covered.add(`${e.detector}\u0000${e.classIndex}`);
    results.push({
      ruleId: sarifRuleId(e.detector),
      ruleIndex: k,
      level: isFailEvidence(scan.verdict, e.detector, e.classIndex) ? 'error' : 'warning',
      message: {
        text: `Class "${e.className}" judged poisoned by ${e.detector} (strength ${e.strength.toFixed(2)}): ${e.reason}. Scan verdict ${scan.verdict.verdict.toUpperCase()}: ${scan.verdict.reason}`,
      },
      locations: [
        {
          ...(dataset.onDisk ? { physicalLocation: physical(where) } : {}),
          logicalLocations: [
            { name: e.className, fullyQualifiedName: `${where}/${e.className}`, kind: 'namespace' },
          ],
        },
      ],
      partialFingerprints: { 'antidoteRecordGroup/v1': fingerprint(e.detector, e.className) },
      properties: { detector: e.detector, class: e.className, records: 0, recordIds: [] },
    });
  }
  return {
    $schema: SARIF_SCHEMA_URI,
    version: SARIF_VERSION,
    runs: [
      {
        tool: {
          driver: {
            name: 'Antidote',
            version,
            semanticVersion: version,
            rules,
          },
        },
        ...(dataset.onDisk ? { artifacts: [{ location: { uri: encodeURI(where) } }] } : {}),
        results,
        properties: { verdict: scan.verdict.verdict, reason: scan.verdict.reason },
      },
    ],
  };
}

/** A SARIF log as its file's text (two-space JSON, final newline). */
export function sarifText(log: SarifLog): string {
  return `${JSON.stringify(log, null, 2)}\n`;
}
