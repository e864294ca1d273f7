import type { TrainProgress } from '../engine/train.js';

/** Progress of a long audit or demo: the current stage and how far it is. */
export interface AuditProgress {
  /** Machine name of the stage, e.g. `train-clean`. */
  readonly stage: string;
  /** Human label, e.g. `train clean model`. */
  readonly label: string;
  readonly done: number;
  readonly total: number;
  /** Extra status (loss, accuracy, …). */
  readonly detail?: string;
}

/** A progress callback. */
export type AuditProgressCallback = (p: AuditProgress) => void;

/** Reports the progress of one stage (see {@link startStage}). */
export interface StageProgress {
  /** One more step done (`n` steps), with an optional status text. */
  tick(detail?: string, n?: number): void;
  /** Absolute progress: `done` of `total` steps. */
  at(done: number, total: number, detail?: string): void;
  /** Training progress (batches over all epochs, with loss and accuracy). */
  train(p: TrainProgress): void;
}

/**
 * Starts stage `name` (reported at 0 of `total`) and returns its reporter; `progress` undefined
 * reports nowhere.
 */
export function startStage(
  progress: AuditProgressCallback | undefined,
  name: string,
  label: string,
  total = 1,
): StageProgress {
  const report = progress ?? (() => {});
  let done = 0;
  report({ stage: name, label, done, total });
  const at = (d: number, t: number, detail?: string) => {
    done = d;
    report({ stage: name, label, done: d, total: t, ...(detail ? { detail } : {}) });
  };
  return {
    tick: (detail, n = 1) => at(done + n, total, detail),
    at,
    train: (p) =>
      at(
        (p.epoch - 1) * p.batches + p.batch,
        p.epochs * p.batches,
        `epoch ${p.epoch}/${p.epochs} loss ${p.loss.toFixed(3)} acc ${(p.accuracy * 100).toFixed(1)}%`,
      ),
  };
}
