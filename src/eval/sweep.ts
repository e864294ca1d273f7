/**
 * Parameter sweeps: one experiment per (seed × trigger × poison rate), sharing one clean model
 * per seed, summarised as a flat table (JSON rows and CSV).
 */
import { loadTrigger, type Trigger, type TriggerSpec } from '../attacks/triggers.js';
import type { Dataset } from '../data/dataset.js';
import type { Classifier } from '../engine/classifier.js';
import { AntidoteError } from '../errors.js';
import { Rng } from '../util/rng.js';
import {
  type AttackSpec,
  checkAttackSpec,
  type ExperimentProgress,
  type ExperimentResult,
  engineTrainer,
  poisonUpFront,
  runExperiment,
  type TrainedModel,
  type Trainer,
  type VictimSpec,
} from './experiment.js';

/** A sweep: a base attack whose `rate` (and, for backdoors, `trigger`) vary. */
export interface SweepSpec {
  readonly name?: string;
  readonly train: Dataset;
  readonly test: Dataset;
  /** The base attack (`'backdoor'` or `'label-flip'`); its rate and trigger are overridden. */
  readonly attack: AttackSpec;
  readonly victim: VictimSpec;
  /** Poison rates, each in [0, 1). */
  readonly rates: readonly number[];
  /** Backdoor triggers to compare (default: the base attack's). */
  readonly triggers?: readonly TriggerSpec[];
  /** Seeds; each gets its own clean model. */
  readonly seeds: readonly number[];
}

/** One row of a sweep table. */
export interface SweepRow {
  readonly seed: number;
  readonly rate: number;
  /** A short trigger label (`pattern`, `image:bright-square`...) or `''` for label flips. */
  readonly trigger: string;
  readonly poisoned: number;
  readonly cleanAccuracy: number | null;
  readonly accuracy: number;
  readonly accuracyDrop: number | null;
  readonly attackSuccessRate: number | null;
  readonly robustAccuracy: number | null;
}

/** The result of {@link sweep}. */
export interface SweepResult {
  readonly name?: string;
  readonly attack: AttackSpec;
  readonly victim: VictimSpec;
  readonly rows: SweepRow[];
  readonly results: ExperimentResult[];
}

/** A progress event of {@link sweep}: which run of how many, and the run's own progress. */
export interface SweepProgress {
  /** 0-based index of the current run. */
  readonly run: number;
  readonly runs: number;
  readonly seed: number;
  readonly rate?: number;
  readonly trigger?: string;
  readonly experiment: ExperimentProgress;
}

/** Options of {@link sweep}. */
export interface SweepOptions {
  readonly trainer?: Trainer;
  readonly batchSize?: number;
  readonly onProgress?: (p: SweepProgress) => void;
}

/** A short label for a trigger spec, for tables and chart legends. */
export function triggerLabel(t: TriggerSpec | undefined): string {
  if (!t) return '';
  switch (t.kind) {
    case 'pixel':
    case 'pattern':
      return t.kind;
    case 'checkerboard':
      return `checkerboard:${t.size}`;
    case 'image':
      return `image:${t.image.split(/[\\/]/).pop()}:${t.size}`;
    case 'blend':
      return `blend:${t.alpha}`;
    default:
      return String((t as { kind: unknown }).kind);
  }
}

function attackFor(
  base: Exclude<AttackSpec, { attack: 'none' }>,
  rate: number,
  trigger: TriggerSpec | undefined,
): AttackSpec {
  if (base.attack === 'backdoor') return { ...base, rate, trigger: trigger as TriggerSpec };
  const { count: _count, ...rest } = base;
  return { ...rest, rate };
}

function checkSweep(spec: SweepSpec): void {
  checkAttackSpec(spec.attack);
  if (spec.attack.attack === 'none') {
    throw new AntidoteError('INVALID_ARGUMENT', 'a sweep needs a backdoor or label-flip attack', {
      field: 'attack',
    });
  }
  const list = (v: unknown, field: string) => {
    if (!Array.isArray(v) || v.length === 0) {
      throw new AntidoteError('INVALID_ARGUMENT', `${field} must be a non-empty list`, { field });
    }
  };
  list(spec.rates, 'rates');
  list(spec.seeds, 'seeds');
  for (const r of spec.rates) {
    if (typeof r !== 'number' || !Number.isFinite(r) || r < 0 || r >= 1) {
      throw new AntidoteError('INVALID_ARGUMENT', `every rate must be in [0, 1), got ${r}`, {
        field: 'rates',
      });
    }
  }
  for (const s of spec.seeds) {
    if (!Number.isSafeInteger(s)) {
      throw new AntidoteError('INVALID_ARGUMENT', `every seed must be an integer, got ${s}`, {
        field: 'seeds',
      });
    }
  }
  if (spec.triggers !== undefined) {
    list(spec.triggers, 'triggers');
    if (spec.attack.attack !== 'backdoor') {
      throw new AntidoteError('INVALID_ARGUMENT', 'triggers only apply to backdoor sweeps', {
        field: 'triggers',
      });
    }
  }
}

/** One run of a sweep: a seed, a trigger (backdoors) and a poison rate, with its attack. */
export interface SweepRun {
  readonly seed: number;
  readonly rate: number;
  readonly trigger?: TriggerSpec;
  /** {@link triggerLabel} of the trigger (`''` for label flips). */
  readonly label: string;
  /** The base attack with this run's rate (and trigger). */
  readonly attack: AttackSpec;
}

/**
 * Checks a sweep spec and every combination's attack on the data (triggers loaded), before any
 * training, and lists its runs in the order {@link sweep} runs them (seed, trigger, rate). The
 * distributed sweep (`src/jobs/`) plans with it, so both run and order the same experiments.
 */
export async function planSweep(
  spec: SweepSpec,
): Promise<{ runs: SweepRun[]; triggers: Map<TriggerSpec, Trigger> }> {
  checkSweep(spec);
  const base = spec.attack as Exclude<AttackSpec, { attack: 'none' }>;
  const triggerSpecs: (TriggerSpec | undefined)[] =
    base.attack === 'backdoor' ? [...(spec.triggers ?? [base.trigger])] : [undefined];
  const triggers = new Map<TriggerSpec, Trigger>();
  for (const t of triggerSpecs) if (t) triggers.set(t, await loadTrigger(t));

  // Validate every combination before the first training (a sweep can run for hours).
  for (const t of triggerSpecs) {
    for (const rate of spec.rates) {
      poisonUpFront(
        spec.train,
        attackFor(base, rate, t),
        t && triggers.get(t),
        new Rng(spec.seeds[0]!),
      );
    }
  }
  const runs: SweepRun[] = [];
  for (const seed of spec.seeds) {
    for (const t of triggerSpecs) {
      for (const rate of spec.rates) {
        runs.push({
          seed,
          rate,
          ...(t ? { trigger: t } : {}),
          label: triggerLabel(t),
          attack: attackFor(base, rate, t),
        });
      }
    }
  }
  return { runs, triggers };
}

/** The table row of one run's experiment result. */
export function sweepRowOf(run: SweepRun, r: ExperimentResult): SweepRow {
  return {
    seed: run.seed,
    rate: run.rate,
    trigger: run.label,
    poisoned: r.poison.count,
    cleanAccuracy: r.clean?.accuracy ?? null,
    accuracy: r.poisoned.accuracy,
    accuracyDrop: r.accuracyDrop ?? null,
    attackSuccessRate: r.poisoned.backdoor?.attackSuccessRate ?? null,
    robustAccuracy: r.poisoned.backdoor?.robustAccuracy ?? null,
  };
}

/**
 * Runs every (seed, trigger, rate) combination, in that nesting order. All combinations are
 * validated (attack parameters on the data, triggers loaded) by the first experiment of each
 * before its training; the whole spec is checked before anything runs.
 */
export async function sweep(spec: SweepSpec, options: SweepOptions = {}): Promise<SweepResult> {
  const trainer = options.trainer ?? engineTrainer;
  const plan = await planSweep(spec);
  const triggers = plan.triggers;
  const runs = plan.runs.length;
  const rows: SweepRow[] = [];
  const results: ExperimentResult[] = [];
  let run = 0;
  const perSeed = runs / spec.seeds.length;
  for (const [k, seed] of spec.seeds.entries()) {
    let clean: TrainedModel | undefined;
    try {
      for (const planned of plan.runs.slice(k * perSeed, (k + 1) * perSeed)) {
        const { rate, trigger: t, label, attack } = planned;
        const progress = (experiment: ExperimentProgress) =>
          options.onProgress?.({
            run,
            runs,
            seed,
            rate,
            ...(t ? { trigger: label } : {}),
            experiment,
          });
        if (!clean) {
          progress({ stage: 'train-clean' });
          clean = await trainer(spec.train, {
            ...spec.victim,
            seed,
            onProgress: (training) => progress({ stage: 'train-clean', training }),
          });
        }
        const r = await runExperiment(
          {
            ...(spec.name !== undefined ? { name: spec.name } : {}),
            train: spec.train,
            test: spec.test,
            attack,
            victim: spec.victim,
            seed,
          },
          {
            trainer,
            cleanModel: clean as Classifier,
            ...(t ? { trigger: triggers.get(t) } : {}),
            ...(options.batchSize ? { batchSize: options.batchSize } : {}),
            onProgress: progress,
          },
        );
        results.push(r);
        rows.push(sweepRowOf(planned, r));
        run++;
      }
    } finally {
      clean?.dispose?.();
    }
  }
  return {
    ...(spec.name !== undefined ? { name: spec.name } : {}),
    attack: spec.attack,
    victim: spec.victim,
    rows,
    results,
  };
}

/** Columns of the sweep CSV, in order. */
export const SWEEP_CSV_COLUMNS: readonly (keyof SweepRow)[] = Object.freeze([
  'seed',
  'trigger',
  'rate',
  'poisoned',
  'cleanAccuracy',
  'accuracy',
  'accuracyDrop',
  'attackSuccessRate',
  'robustAccuracy',
]);

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The sweep table as RFC 4180 CSV (header row, CRLF line ends; empty cell = not applicable). */
export function sweepToCsv(rows: readonly SweepRow[]): string {
  const lines = [SWEEP_CSV_COLUMNS.join(',')];
  for (const r of rows) lines.push(SWEEP_CSV_COLUMNS.map((c) => csvCell(r[c])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}
