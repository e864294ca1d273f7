/** Shared-memory layout between the trainer and its gradient workers (`data-parallel.ts`). */

/** Slots of the `Int32Array` control block. */
export const CONTROL = {
  /** Step counter: the trainer increments it to start a step (the worker waits on it). */
  go: 0,
  /** 1 = compute a step, 2 = exit. */
  command: 1,
  /** Records in this step's shard. */
  records: 2,
  /** Number of slots. */
  size: 3,
} as const;

/** What a gradient worker is started with (`workerData`). */
export interface GradientWorkerData {
  readonly backend: 'wasm' | 'cpu';
  /** `model.toJSON()` topology of the replica. */
  readonly modelTopology: unknown;
  readonly inputShape: readonly number[];
  readonly recordSize: number;
  readonly numClasses: number;
  /** Start of each trainable weight in the flat weight / gradient buffers (length vars + 1). */
  readonly offsets: readonly number[];
  readonly control: SharedArrayBuffer;
  /** The trainer's weights at the start, one array per trainable variable (in order). */
  readonly weights: Float32Array[];
  readonly x: SharedArrayBuffer;
  readonly y: SharedArrayBuffer;
  /** Float64 × 3: the shard's scaled loss, its hits, and (in) the loss scale 1/m. */
  readonly results: SharedArrayBuffer;
  /** This worker's participant index (the trainer is 0). */
  readonly participant: number;
  /** Participants (trainer + workers). */
  readonly participants: number;
  /**
   * Float32 gradients of every participant for even and odd steps:
   * `[participant][parity][weights]`, so a participant may start step s + 1 while another still
   * reads step s.
   */
  readonly allGrads: SharedArrayBuffer;
  /** Int32 per participant: the last step whose gradients it has written. */
  readonly ready: SharedArrayBuffer;
  /** Adam learning rate (every participant applies the summed gradients itself). */
  readonly learningRate: number;
}
