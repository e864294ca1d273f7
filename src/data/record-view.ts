import { type Dataset, recordSize } from './dataset.js';

/** One record of a dataset as hashing, signing and diffing see it (no copy of the features). */
export interface RecordView {
  readonly id: string;
  /** A view into the dataset's features. */
  readonly features: Float32Array;
  /** The label by class name, so re-ordering the classes changes nothing. */
  readonly label: string;
  readonly source?: string;
  readonly text?: string;
}

/** The records of `ds` one by one, in dataset order. */
export function* recordViews(ds: Dataset): Generator<RecordView> {
  const size = recordSize(ds);
  for (let i = 0; i < ds.ids.length; i++) {
    yield {
      id: ds.ids[i]!,
      features: ds.x.subarray(i * size, (i + 1) * size),
      label: ds.classes[ds.y[i]!]!,
      ...(ds.source ? { source: ds.source[i] } : {}),
      ...(ds.text ? { text: ds.text[i] } : {}),
    };
  }
}
