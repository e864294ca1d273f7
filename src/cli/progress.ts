import cliProgress from 'cli-progress';
import type { AuditProgress } from '../audit/progress.js';
import type { TrainProgress } from '../engine/train.js';

/** A progress bar on stderr, or nothing when stderr is not a terminal or output is quiet. */
export interface ProgressBar {
  /** Sets the position (and optionally the total and a status text). */
  update(value: number, status?: string, total?: number): void;
  /** Removes the bar. */
  stop(): void;
}

const NO_PROGRESS: ProgressBar = { update: () => {}, stop: () => {} };

/** Whether progress bars are shown: stderr is a TTY and neither `--quiet` nor `--json` is set. */
export function progressEnabled(options: { quiet?: boolean; json?: boolean }): boolean {
  return Boolean(process.stderr.isTTY) && !options.quiet && !options.json;
}

/** A progress bar labelled `label` (see {@link ProgressBar}). */
export function createProgressBar(label: string, total: number, enabled: boolean): ProgressBar {
  if (!enabled) return NO_PROGRESS;
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${label.padEnd(22)} {bar} {percentage}% | {value}/{total} | {status}`,
      barsize: 30,
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { status: '' });
  return {
    update: (value, status, newTotal) => {
      if (newTotal !== undefined) bar.setTotal(newTotal);
      bar.update(value, { status: status ?? '' });
    },
    stop: () => bar.stop(),
  };
}

/** An `onProgress` callback for training that drives a progress bar over all epochs' batches. */
export function trainingProgress(
  label: string,
  enabled: boolean,
): {
  onProgress: (p: TrainProgress) => void;
  stop: () => void;
} {
  let bar: ProgressBar | undefined;
  return {
    onProgress: (p) => {
      bar ??= createProgressBar(label, p.epochs * p.batches, enabled);
      const val = p.valAccuracy !== undefined ? ` val_acc ${p.valAccuracy.toFixed(4)}` : '';
      bar.update(
        (p.epoch - 1) * p.batches + p.batch,
        `epoch ${p.epoch}/${p.epochs} loss ${p.loss.toFixed(4)} acc ${p.accuracy.toFixed(4)}${val}`,
      );
    },
    stop: () => bar?.stop(),
  };
}

/** A progress reporter that shows one bar per stage of a long run. */
export function stageProgress(enabled: boolean): {
  onProgress: (p: AuditProgress) => void;
  stop: () => void;
} {
  let current: { stage: string; bar: ProgressBar } | undefined;
  return {
    onProgress: (p) => {
      if (current?.stage !== p.stage) {
        current?.bar.stop();
        current = {
          stage: p.stage,
          bar: createProgressBar(p.label, Math.max(p.total, 1), enabled),
        };
      }
      current.bar.update(p.done, p.detail, Math.max(p.total, 1));
    },
    stop: () => current?.bar.stop(),
  };
}
