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
