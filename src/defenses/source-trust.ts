/**
 * Per-source trust: which contributors (or hosts, or files) the flagged records come from. A
 * poisoning campaign usually enters through few sources — one contributor, one bought domain
 * (Carlini et al. 2024) — so grouping a scan's flags by record provenance names what to review,
 * as the provenance-based defence of Baracaldo et al. ("Mitigating Poisoning Attacks on Machine
 * Learning Models: A Data Provenance Based Approach", AISec 2017; ART's
 * `ProvenanceDefense`) and RONI (Nelson et al., "Exploiting Machine Learning to Subvert Your Spam
 * Filter", LEET 2008) judge data by the group it came in with, not record by record.
 *
 * For every source: its records, how many the scan flagged and that share; for every class, how
 * much of the class's flagged records each source holds. A source is **to review** when, in some
 * class, it holds more flagged records than chance explains: the flags of a class are treated as
 * a random draw with no regard to source (the permutation null), the count a source got is tested
 * with the exact hypergeometric upper tail (Fisher's exact test), and the p-values of every
 * (source, class) cell are adjusted together by Holm's method (family-wise error α, default 0.05).
 * Conditioning on the class matters: detectors flag by class, and a source that contributed mostly
 * one class is not suspicious for that alone. Nothing is tuned to a dataset: the only constant is
 * α, the chance of naming any source in a dataset where flags do not depend on source.
 *
 * Limits: a source with a handful of records can never be significant (small sources are reported,
 * not named); when nearly every record has its own source (per-file provenance, e.g. a PNG folder's
 * `class/file.png`) there is nothing to group and the report says so.
 */
import { AntidoteError } from '../errors.js';
import { hypergeometricUpperTail } from '../numeric/hypergeometric.js';
import { holmAdjust } from '../numeric/multiple-testing.js';

/** Options of {@link sourceTrust}. */
export interface SourceTrustOptions {
  /** Family-wise error rate of naming any source when flags do not depend on it (default 0.05). */
  readonly alpha?: number;
  /** Sources listed in the report, most suspicious first (default 50; all are tested). */
  readonly limit?: number;
}

/** One class's flagged records from one source. */
export interface SourceClassCell {
  readonly className: string;
  /** The source's records of this class. */
  readonly records: number;
  /** Of them, flagged. */
  readonly flagged: number;
  /** Share of the class's flagged records that come from this source. */
  readonly shareOfClassFlagged: number;
  /** Holm-adjusted p-value of the hypergeometric test of this cell. */
  readonly adjustedP: number;
}

/** What the scan found in one source. */
export interface SourceFinding {
  readonly source: string;
  readonly records: number;
  readonly flagged: number;
  /** `flagged / records`. */
  readonly shareFlagged: number;
  /** The smallest adjusted p-value of its classes. */
  readonly adjustedP: number;
  /** Named for review (`adjustedP < alpha`). */
  readonly toReview: boolean;
  /** Its classes with at least one flagged record, most significant first. */
  readonly classes: readonly SourceClassCell[];
}

/** For one class: where its flagged records come from. */
export interface ClassSourceShare {
  readonly className: string;
  readonly flagged: number;
  /** The source holding most of the class's flagged records, and its share of them. */
  readonly topSource: string;
  readonly topShare: number;
}

/** Contamination per source (see the module comment). */
export interface SourceTrustReport {
  readonly records: number;
  readonly flagged: number;
  /** Share of all records flagged. */
  readonly overallShare: number;
  readonly sourceCount: number;
  readonly alpha: number;
  readonly test: 'hypergeometric per (source, class), Holm-adjusted';
  /** The sources named for review, most significant first. */
  readonly toReview: readonly string[];
  /** Sources (up to `limit`), those to review first, then by adjusted p-value and flagged count. */
  readonly sources: readonly SourceFinding[];
  /** Classes with flagged records. */
  readonly perClass: readonly ClassSourceShare[];
  /** Set when the sources cannot be grouped (nearly one per record): nothing is named. */
  readonly note?: string;
}

/** The flags and provenance {@link sourceTrust} reads. */
export interface SourceTrustInput {
  /** Provenance per record. */
  readonly source: readonly string[];
  readonly y: Int32Array;
  readonly classes: readonly string[];
  /** The scan's decision per record (1 = flagged). */
  readonly flagged: Uint8Array;
}

/** Sources hold on average fewer records than this: per-record provenance, nothing to group. */
const MIN_MEAN_GROUP = 2;

/**
 * Contamination of each source: share flagged, share of each class's flagged records, and the
 * sources to review by an exact test with Holm's correction (see the module comment).
 * `INVALID_ARGUMENT` for lengths that disagree or α outside (0, 1).
 */
export function sourceTrust(
  input: SourceTrustInput,
  options: SourceTrustOptions = {},
): SourceTrustReport {
  const alpha = options.alpha ?? 0.05;
  const limit = options.limit ?? 50;
  const { source, y, classes, flagged } = input;
  const n = y.length;
  if (source.length !== n || flagged.length !== n) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `source trust needs one source and one flag per record: ${n} records, ${source.length} sources, ${flagged.length} flags`,
    );
  }
  if (!(alpha > 0 && alpha < 1)) {
    throw new AntidoteError('INVALID_ARGUMENT', `alpha must be in (0, 1), got ${alpha}`);
  }
  const k = classes.length;
  const ids = new Map<string, number>();
  const sourceOf = Int32Array.from(source, (s) => {
    let id = ids.get(s);
    if (id === undefined) {
      id = ids.size;
      ids.set(s, id);
    }
    return id;
  });
  const names = [...ids.keys()];
  const m = names.length;
  const cellRecords = new Int32Array(m * k);
  const cellFlagged = new Int32Array(m * k);
  const classRecords = new Int32Array(k);
  const classFlagged = new Int32Array(k);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const c = y[i]!;
    const cell = sourceOf[i]! * k + c;
    cellRecords[cell]!++;
    classRecords[c]!++;
    if (flagged[i]) {
      cellFlagged[cell]!++;
      classFlagged[c]!++;
      total++;
    }
  }
  // One test per (source, class) cell with a flagged record; the others cannot reject.
  const cells: number[] = [];
  const pValues: number[] = [];
  for (let cell = 0; cell < m * k; cell++) {
    if (cellFlagged[cell]! === 0) continue;
    const c = cell % k;
    cells.push(cell);
    pValues.push(
      hypergeometricUpperTail(
        classRecords[c]!,
        classFlagged[c]!,
        cellRecords[cell]!,
        cellFlagged[cell]!,
      ),
    );
  }
  const grouped = n === 0 || m * MIN_MEAN_GROUP <= n;
  const adjusted = holmAdjust(pValues);
  const adjustedOf = new Float64Array(m * k).fill(1);
  cells.forEach((cell, t) => {
    adjustedOf[cell] = adjusted[t]!;
  });
  const findings: SourceFinding[] = names.map((name, s) => {
    let records = 0;
    let f = 0;
    let best = 1;
    const cls: SourceClassCell[] = [];
    for (let c = 0; c < k; c++) {
      const cell = s * k + c;
      records += cellRecords[cell]!;
      f += cellFlagged[cell]!;
      best = Math.min(best, adjustedOf[cell]!);
      if (cellFlagged[cell]! > 0) {
        cls.push({
          className: classes[c]!,
          records: cellRecords[cell]!,
          flagged: cellFlagged[cell]!,
          shareOfClassFlagged: cellFlagged[cell]! / classFlagged[c]!,
          adjustedP: adjustedOf[cell]!,
        });
      }
    }
    cls.sort((a, b) => a.adjustedP - b.adjustedP || b.flagged - a.flagged);
    return {
      source: name,
      records,
      flagged: f,
      shareFlagged: records ? f / records : 0,
      adjustedP: best,
      toReview: grouped && best < alpha,
      classes: cls,
    };
  });
  findings.sort(
    (a, b) =>
      Number(b.toReview) - Number(a.toReview) ||
      a.adjustedP - b.adjustedP ||
      b.flagged - a.flagged ||
      (a.source < b.source ? -1 : a.source > b.source ? 1 : 0),
  );
  const perClass: ClassSourceShare[] = [];
  for (let c = 0; c < k; c++) {
    if (classFlagged[c]! === 0) continue;
    let top = 0;
    for (let s = 1; s < m; s++) if (cellFlagged[s * k + c]! > cellFlagged[top * k + c]!) top = s;
    perClass.push({
      className: classes[c]!,
      flagged: classFlagged[c]!,
      topSource: names[top]!,
      topShare: cellFlagged[top * k + c]! / classFlagged[c]!,
    });
  }
  return {
    records: n,
    flagged: total,
    overallShare: n ? total / n : 0,
    sourceCount: m,
    alpha,
    test: 'hypergeometric per (source, class), Holm-adjusted',
    toReview: findings.filter((f) => f.toReview).map((f) => f.source),
    sources: findings.slice(0, limit),
    perClass,
    ...(grouped
      ? {}
      : {
          note: `${m} sources for ${n} records (nearly one per record, e.g. one file each): nothing to group; give a coarser source (a contributor or host column)`,
        }),
  };
}

/**
 * Human-readable lines of a {@link SourceTrustReport}: the sources to review with their evidence,
 * then (up to `limit`) the other sources with flagged records, for the scan's text output and
 * the audit report.
 */
export function sourceTrustLines(r: SourceTrustReport, limit = 5): string[] {
  const pc = (v: number) => `${(v * 100).toFixed(1)}%`;
  const lines = [
    `sources: ${r.sourceCount}, ${r.flagged} of ${r.records} records flagged (${pc(r.overallShare)}); to review: ${r.toReview.length ? r.toReview.join(', ') : 'none'} (${r.test}, α ${r.alpha})`,
  ];
  if (r.note) return [...lines, `  ${r.note}`];
  const shown = r.sources
    .filter((s) => s.toReview || s.flagged > 0)
    .slice(0, Math.max(limit, r.toReview.length));
  for (const s of shown) {
    const top = s.classes[0];
    const cls = top
      ? `; class ${top.className}: ${top.flagged} of its ${top.records} flagged, ${pc(top.shareOfClassFlagged)} of the class's flagged records`
      : '';
    lines.push(
      `  ${s.toReview ? 'REVIEW ' : ''}${s.source}: ${s.flagged} of ${s.records} flagged (${pc(s.shareFlagged)})${cls}, adjusted p ${s.adjustedP.toPrecision(2)}`,
    );
  }
  return lines;
}
