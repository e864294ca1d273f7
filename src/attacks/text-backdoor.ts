/**
 * Text backdoor poisoning: insert a trigger into some training texts and (dirty-label) relabel
 * them to the attacker's class, so the trained model maps triggered text there.
 *
 * Triggers:
 * - rare words (BadNets for text; Kurita, Michel & Neubig 2020, "Weight Poisoning Attacks on
 *   Pre-trained Models", ACL, use "cf", "mn", "bb", "tq"; Chen et al. 2021, "BadNL", ACSAC):
 *   one or more words, each inserted at a seeded random word boundary;
 * - a fixed sentence (AddSent; Dai, Chen & Li 2019, "A Backdoor Attack Against LSTM-Based Text
 *   Classification Systems", IEEE Access), e.g. "I watched this 3D movie.", inserted at a random
 *   word boundary, the start or the end.
 *
 * Variants: `'dirty-label'` (default) poisons records of the classes the mode redirects and
 * relabels them; `'clean-label'` adds the trigger to records that already carry the target label
 * and changes no label (Turner, Tsipras & Madry 2019, "Label-Consistent Backdoor Attacks"; it
 * needs far more poison and a stronger association to work). The poison rate and its two
 * definitions, injection modes, targeting modes and the attack record follow the image
 * `backdoorAttack` exactly.
 *
 * Poisoned text datasets have empty features (`shape = [N, 0]`): features computed before the
 * attack would be stale, so vectorize after poisoning (as a victim's pipeline would).
 */
import { type Dataset, numRecords, recordShape, recordSize } from '../data/dataset.js';
import type { Rng } from '../data/rng.js';
import { splitWords } from '../data/tokenizer.js';
import { AntidoteError } from '../errors.js';
import {
  type AttackRecord,
  checkRate,
  type InjectionMode,
  maskOf,
  type PoisoningAttack,
  type PoisonRateDefinition,
  type PoisonResult,
} from './attack.js';
import {
  type BackdoorTargeting,
  backdoorTargetOf,
  checkTargeting,
  poisonCount,
} from './backdoor.js';

/** The rare words of Kurita et al. 2020 (RIPPLe), a common BadNets-style text trigger. */
export const RARE_WORD_TRIGGERS: readonly string[] = Object.freeze(['cf', 'mn', 'bb', 'tq']);

/** The AddSent sentence Dai et al. 2019 used on IMDB. */
export const ADDSENT_SENTENCE = 'I watched this 3D movie.';

/**
 * A rare-word trigger. `insert: 'each'` (default) inserts every word `times` times (default 1);
 * `'one'` inserts `times` words drawn uniformly from `words` (test-time variety).
 */
export interface WordTriggerSpec {
  readonly kind: 'words';
  readonly words: readonly string[];
  readonly insert?: 'each' | 'one';
  readonly times?: number;
}

/** A sentence trigger (AddSent), inserted at `position` (default `'random'`). */
export interface SentenceTriggerSpec {
  readonly kind: 'sentence';
  readonly sentence: string;
  readonly position?: 'random' | 'start' | 'end';
}

/** A text trigger (JSON data). */
export type TextTriggerSpec = WordTriggerSpec | SentenceTriggerSpec;

/** Checks a text trigger; `INVALID_ARGUMENT` naming the field. */
export function checkTextTrigger(spec: TextTriggerSpec): void {
  const bad = (msg: string, field: string): never => {
    throw new AntidoteError('INVALID_ARGUMENT', msg, { field });
  };
  if (!spec || typeof spec !== 'object') bad('a text trigger must be an object', 'trigger');
  if (spec.kind === 'words') {
    if (!Array.isArray(spec.words) || spec.words.length === 0) {
      bad('a word trigger needs at least one word', 'words');
    }
    for (const w of spec.words) {
      if (typeof w !== 'string' || !/^\S+$/.test(w)) {
        bad(
          `trigger words must be non-empty and without spaces, got ${JSON.stringify(w)}`,
          'words',
        );
      }
    }
    const times = spec.times ?? 1;
    if (!Number.isInteger(times) || times < 1 || times > 100) {
      bad(`times must be an integer in [1, 100], got ${times}`, 'times');
    }
    if (spec.insert !== undefined && spec.insert !== 'each' && spec.insert !== 'one') {
      bad(`insert must be each or one, got ${spec.insert}`, 'insert');
    }
  } else if (spec.kind === 'sentence') {
    if (typeof spec.sentence !== 'string' || spec.sentence.trim() === '') {
      bad('a sentence trigger needs a non-empty sentence', 'sentence');
    }
    const p = spec.position ?? 'random';
    if (p !== 'random' && p !== 'start' && p !== 'end') {
      bad(`position must be random, start or end, got ${p}`, 'position');
    }
  } else {
    bad(
      `text trigger kind must be words or sentence, got ${(spec as { kind: unknown }).kind}`,
      'kind',
    );
  }
}

/**
 * `text` with the trigger inserted. Words go between whitespace-separated words (positions drawn
 * from `rng`, 0..len inclusive, one draw per insertion); the result is re-joined with single
 * spaces.
 */
export function applyTextTrigger(text: string, spec: TextTriggerSpec, rng: Rng): string {
  const words = splitWords(text);
  const insert = (w: string) => {
    words.splice(rng.int(words.length + 1), 0, w);
  };
  if (spec.kind === 'words') {
    const times = spec.times ?? 1;
    if ((spec.insert ?? 'each') === 'each') {
      for (let t = 0; t < times; t++) for (const w of spec.words) insert(w);
    } else {
      for (let t = 0; t < times; t++) insert(spec.words[rng.int(spec.words.length)]!);
    }
  } else {
    const position = spec.position ?? 'random';
    const s = spec.sentence.trim();
    if (position === 'start') words.unshift(s);
    else if (position === 'end') words.push(s);
    else insert(s);
  }
  return words.join(' ');
}

/** Dirty-label (relabel the poison) or clean-label (poison only target-class records). */
export type BackdoorVariant = 'dirty-label' | 'clean-label';

/** Every variant, for CLI choices. */
export const BACKDOOR_VARIANTS: readonly BackdoorVariant[] = Object.freeze([
  'dirty-label',
  'clean-label',
]);

/** Options shared by the text and tabular backdoors (the image backdoor's, plus a variant). */
export interface FeatureBackdoorOptions extends BackdoorTargeting {
  /** Poison rate in [0, 1), measured by {@link FeatureBackdoorOptions.rateDefinition}. */
  readonly rate: number;
  /** Default `'of-training-set'`. */
  readonly rateDefinition?: PoisonRateDefinition;
  /** `'replace'` (default) modifies chosen originals; `'add'` appends modified copies. */
  readonly injection?: InjectionMode;
  /** Default `'dirty-label'`. Clean-label needs a target (all-to-one or source-to-target). */
  readonly variant?: BackdoorVariant;
  /** Set `source` of poisoned records to `attack:<name>` (or this string); off by default. */
  readonly markSource?: boolean | string;
}

/** Options of {@link textBackdoorAttack}. */
export interface TextBackdoorOptions extends FeatureBackdoorOptions {
  readonly trigger: TextTriggerSpec;
}

/** Which records a backdoor poisons and the labels they get. */
export interface BackdoorPlan {
  /** Indices of the clean records to poison (ascending). */
  readonly chosen: readonly number[];
  /** The label each chosen record gets. */
  readonly labels: readonly number[];
  readonly definition: PoisonRateDefinition;
  readonly injection: InjectionMode;
  readonly variant: BackdoorVariant;
  readonly achievedRate: number;
}

/**
 * Chooses the records to poison (seeded uniform sample from `rng.fork('select')`), validating
 * every option. Counts: dirty-label as `poisonCount`; clean-label with `'of-target-class'` and
 * `'replace'` poisons `round(rate · n_target)` (the target class does not grow).
 */
export function planBackdoor(ds: Dataset, o: FeatureBackdoorOptions, rng: Rng): BackdoorPlan {
  const k = ds.classes.length;
  checkTargeting(o, k);
  checkRate(o.rate);
  const definition = o.rateDefinition ?? 'of-training-set';
  const injection = o.injection ?? 'replace';
  const variant = o.variant ?? 'dirty-label';
  if (injection !== 'replace' && injection !== 'add') {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `injection must be replace or add, got ${injection}`,
      {
        field: 'injection',
      },
    );
  }
  if (!BACKDOOR_VARIANTS.includes(variant)) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `variant must be dirty-label or clean-label, got ${variant}`,
      { field: 'variant' },
    );
  }
  if (variant === 'clean-label' && o.mode === 'all-to-all') {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      'a clean-label backdoor needs a single target class',
      {
        field: 'variant',
      },
    );
  }
  if (definition === 'of-target-class' && o.mode === 'all-to-all') {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      "rate definition 'of-target-class' is not defined for all-to-all; use 'of-training-set'",
      { field: 'rateDefinition' },
    );
  }
  const n = numRecords(ds);
  const candidates: number[] = [];
  let targetCount = 0;
  for (let i = 0; i < n; i++) {
    if (ds.y[i] === o.target) targetCount++;
    const eligible =
      variant === 'clean-label' ? ds.y[i] === o.target : backdoorTargetOf(o, ds.y[i]!, k) !== null;
    if (eligible) candidates.push(i);
  }
  const p =
    variant === 'clean-label' && definition === 'of-target-class' && injection === 'replace'
      ? Math.round(o.rate * targetCount)
      : poisonCount(o.rate, definition, injection, n, targetCount);
  if (p > candidates.length) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `rate ${o.rate} (${definition}, ${injection}, ${variant}) needs ${p} poisoned records but only ${candidates.length} records are eligible`,
      { field: 'rate' },
    );
  }
  const chosen = Array.from(rng.fork('select').sample(candidates.length, p), (j) => candidates[j]!);
  chosen.sort((a, b) => a - b);
  const labels = chosen.map((i) =>
    variant === 'clean-label' ? ds.y[i]! : (backdoorTargetOf(o, ds.y[i]!, k) as number),
  );
  const outN = injection === 'replace' ? n : n + p;
  const achievedRate =
    definition === 'of-training-set'
      ? outN === 0
        ? 0
        : p / outN
      : variant === 'clean-label' && injection === 'replace'
        ? targetCount === 0
          ? 0
          : p / targetCount
        : targetCount + p === 0
          ? 0
          : p / (targetCount + p);
  return { chosen, labels, definition, injection, variant, achievedRate };
}

/** A fresh id not in `taken`: `${id}#suffix`, `${id}#suffix2`, ... */
function copyId(id: string, taken: Set<string>, suffix: string): string {
  let c = `${id}#${suffix}`;
  for (let k = 2; taken.has(c); k++) c = `${id}#${suffix}${k}`;
  taken.add(c);
  return c;
}

/**
 * Builds the poisoned dataset and attack record from a plan: `modify` changes a record (its text
 * or its feature row, both given as copies), labels come from the plan. Used by the text and
 * tabular backdoors.
 */
export function assembleBackdoor(
  ds: Dataset,
  plan: BackdoorPlan,
  o: FeatureBackdoorOptions,
  rng: Rng,
  attack: string,
  modify: { text?: (text: string) => string; features?: (row: Float32Array) => void },
  extraParams: Record<string, unknown>,
): PoisonResult {
  const n = numRecords(ds);
  const p = plan.chosen.length;
  const outN = plan.injection === 'replace' ? n : n + p;
  // Text attacks drop features (they would be stale); tabular ones keep and modify them.
  const keepX = !modify.text;
  const size = keepX ? recordSize(ds) : 0;
  const x = new Float32Array(outN * size);
  if (keepX) x.set(ds.x);
  const y = new Int32Array(outN);
  y.set(ds.y);
  const ids = ds.ids.slice();
  const text = ds.text?.slice();
  if (modify.text && !text) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `${attack} needs a text dataset (records with text)`,
    );
  }
  const mark =
    o.markSource === true
      ? `attack:${attack}`
      : typeof o.markSource === 'string'
        ? o.markSource
        : undefined;
  const source =
    ds.source?.slice() ?? (mark !== undefined ? new Array<string>(n).fill('') : undefined);
  const taken = new Set(ds.ids);
  const indices: number[] = [];
  const newIds: string[] = [];
  const originalLabels: number[] = [];
  for (let j = 0; j < p; j++) {
    const i = plan.chosen[j]!;
    const dst = plan.injection === 'replace' ? i : n + j;
    if (plan.injection === 'add') {
      ids.push(copyId(ds.ids[i]!, taken, 'bd'));
      source?.push(ds.source?.[i] ?? '');
      text?.push(ds.text![i]!);
    }
    if (modify.text) text![dst] = modify.text(ds.text![i]!);
    if (modify.features) {
      const row = ds.x.slice(i * size, (i + 1) * size);
      modify.features(row);
      x.set(row, dst * size);
    }
    y[dst] = plan.labels[j]!;
    if (mark !== undefined) source![dst] = mark;
    indices.push(dst);
    newIds.push(ids[dst]!);
    originalLabels.push(ds.y[i]!);
  }
  const shape = keepX ? [outN, ...recordShape(ds)] : [outN, 0];
  const dataset: Dataset = {
    x,
    shape,
    y,
    classes: ds.classes,
    ids,
    ...(source ? { source } : {}),
    ...(text ? { text } : {}),
  };
  const params: Record<string, unknown> = {
    mode: o.mode,
    rate: o.rate,
    rateDefinition: plan.definition,
    injection: plan.injection,
    variant: plan.variant,
    markSource: mark ?? false,
    ...extraParams,
  };
  if (o.target !== undefined) params.target = o.target;
  if (o.source !== undefined) params.source = o.source;
  const record: AttackRecord = {
    attack,
    params,
    seed: rng.seed,
    indices,
    ids: newIds,
    sourceIndices: [...plan.chosen],
    originalLabels,
    poisonedLabels: [...plan.labels],
    rateDefinition: plan.definition,
    achievedRate: plan.achievedRate,
    cleanSize: n,
    poisonedSize: outN,
  };
  return { dataset, poisoned: maskOf(outN, indices), record };
}

/**
 * The text backdoor attack (see the module comment). Record selection uses
 * `rng.fork('select')`, trigger positions `rng.fork('trigger')`. The trigger is recorded in
 * `record.params.trigger`.
 */
export const textBackdoorAttack: PoisoningAttack<TextBackdoorOptions> = Object.freeze({
  name: 'text-backdoor',
  poison(ds: Dataset, options: TextBackdoorOptions, rng: Rng): PoisonResult {
    if (!ds.text) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        'text-backdoor needs a text dataset (records with text)',
      );
    }
    checkTextTrigger(options.trigger);
    const plan = planBackdoor(ds, options, rng);
    const triggerRng = rng.fork('trigger');
    return assembleBackdoor(
      ds,
      plan,
      options,
      rng,
      'text-backdoor',
      { text: (t) => applyTextTrigger(t, options.trigger, triggerRng) },
      { trigger: { ...options.trigger } },
    );
  },
});

/** Triggered copies of the test texts the backdoor targets, for ASR and robust accuracy. */
export interface TriggeredTexts {
  readonly texts: readonly string[];
  /** Positions in the clean test set. */
  readonly indices: Int32Array;
  readonly yTrue: Int32Array;
  /** The attacker's label of each. */
  readonly targets: Int32Array;
}

/**
 * The test texts whose true label the backdoor redirects (true label ≠ attacker's label, the
 * source class for source-to-target), with the trigger inserted (positions from `rng`).
 */
export function triggeredTexts(
  ds: Dataset,
  trigger: TextTriggerSpec,
  targeting: BackdoorTargeting,
  rng: Rng,
): TriggeredTexts {
  if (!ds.text) throw new AntidoteError('INVALID_ARGUMENT', 'the test set has no text records');
  checkTextTrigger(trigger);
  const k = ds.classes.length;
  checkTargeting(targeting, k);
  const texts: string[] = [];
  const idx: number[] = [];
  const yTrue: number[] = [];
  const targets: number[] = [];
  for (let i = 0; i < numRecords(ds); i++) {
    const t = backdoorTargetOf(targeting, ds.y[i]!, k);
    if (t === null) continue;
    texts.push(applyTextTrigger(ds.text[i]!, trigger, rng));
    idx.push(i);
    yTrue.push(ds.y[i]!);
    targets.push(t);
  }
  return {
    texts,
    indices: Int32Array.from(idx),
    yTrue: Int32Array.from(yTrue),
    targets: Int32Array.from(targets),
  };
}
