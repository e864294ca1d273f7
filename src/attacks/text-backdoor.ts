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
import { type Dataset, numRecords } from '../data/dataset.js';
import { splitWords } from '../data/tokenizer.js';
import { AntidoteError } from '../errors.js';
import type { Rng } from '../util/rng.js';
import type { PoisoningAttack, PoisonResult } from './attack.js';
import {
  assembleBackdoor,
  type BackdoorTargeting,
  backdoorTargetOf,
  checkTargeting,
  type FeatureBackdoorOptions,
  planBackdoor,
} from './backdoor-plan.js';

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

/** Options of {@link textBackdoorAttack}. */
export interface TextBackdoorOptions extends FeatureBackdoorOptions {
  readonly trigger: TextTriggerSpec;
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
