import { describe, expect, it } from 'vitest';
import type { Dataset } from '../data/dataset.js';
import type { Classifier } from '../engine/classifier.js';
import {
  plantedTriggerCase as plantedCase,
  readingClassifier,
  sparsePoisonCase,
} from '../testing/planted-trigger.js';
import { Rng } from '../util/rng.js';
import { STRONG_EVIDENCE } from './detector.js';
import {
  heldByJudged,
  purifiedTransfer,
  sameMode,
  type TriggerTransferCandidateStats,
  type TriggerTransferPlan,
  triggerTransfer,
  triggerTransferAmongClasses,
} from './trigger-transfer.js';

describe('low-variance cluster trigger transfer', () => {
  it('confirms a planted low-variance backdoor cluster and not a natural tight sub-style', async () => {
    const { ds, model, poisoned, natural } = plantedCase();
    // Three FOBI directions: beyond them this toy's 15 quiet values offer 3-record modes of
    // extreme noise, cleaner than the sub-style (a real layer's directions are not 15 values of
    // independent noise).
    const report = await triggerTransfer(ds, model, { seed: 3, kurtosisDirections: 3 });
    const flagged = [...report.flagged.keys()].filter((i) => report.flagged[i] === 1);
    const hits = flagged.filter((i) => poisoned.has(i)).length;
    expect(hits / poisoned.size).toBeGreaterThanOrEqual(0.95);
    expect(hits / flagged.length).toBeGreaterThanOrEqual(0.95);
    const [target, , , styled] = [0, 1, 2, 3].map((c) => report.perClass[c]!);
    expect(target!.suspicious).toBe(true);
    expect(target!.strength).toBeGreaterThanOrEqual(STRONG_EVIDENCE);
    expect(target!.stats.transfer).toBeGreaterThanOrEqual(0.9);
    // The natural sub-style is found as one of the class's candidates, but its pattern does not
    // move other records to its class more than the class's own records do.
    expect(styled!.stats.candidateSizes as number[]).toContain(natural.size);
    expect(styled!.suspicious).toBe(false);
    expect(styled!.strength).toBeLessThan(STRONG_EVIDENCE);
    for (const f of report.perClass.slice(1)) expect(f.flagged).toBe(0);
  });

  it('finds the poison along a later kurtosis direction when heavy tails out-rank it', async () => {
    // The planted case with heavy-tailed quiet values in every class (2% of records ×40 on
    // values 1 and 2: excess kurtosis far above the poison's bimodal one) and a broad Gaussian
    // value 13: the first principal direction is value 13 and the first two FOBI directions are
    // the tails, as on an mlp's ReLU layer (MNIST, pixel trigger at 5%).
    const { ds, model, poisoned } = plantedCase();
    const rng = new Rng(11);
    const x = Float32Array.from(ds.x);
    for (let i = 0; i < ds.y.length; i++) {
      for (const j of [1, 2]) if (rng.uniform(0, 1) < 0.02) x[i * 16 + j]! *= 40;
      x[i * 16 + 13] = rng.normal(0, 1);
    }
    const tailed: Dataset = { ...ds, x };
    const count = (flagged: Uint8Array) => {
      const all = [...flagged.keys()].filter((i) => flagged[i] === 1);
      return { hits: all.filter((i) => poisoned.has(i)).length, all: all.length };
    };
    // One principal direction: the later ones would find the poison here too (its variance is
    // above the tails'); this case is about the kurtosis directions.
    const first = await triggerTransfer(tailed, model, {
      seed: 3,
      kurtosisDirections: 1,
      principalDirections: 1,
    });
    expect(count(first.flagged).hits).toBeLessThan(poisoned.size / 2);
    const report = await triggerTransfer(tailed, model, { seed: 3, principalDirections: 1 });
    const { hits, all } = count(report.flagged);
    expect(hits / poisoned.size).toBeGreaterThanOrEqual(0.95);
    expect(hits / all).toBeGreaterThanOrEqual(0.95);
    expect(report.perClass[0]!.stats.direction).toMatch(/^kurtosis-[23]$/);
  });

  it('finds the poison along a later principal direction when a class-wide style out-ranks it', async () => {
    // The planted case with a two-mode style in every class (value 13 at ±0.5: variance 0.25,
    // above the poison's 0.08 along value 15) and heavy-tailed quiet values 1–3 (2% of records
    // ×40: excess kurtosis near 50, far above the poison's 6): the first principal direction is
    // the style, whose half-class split carries no trigger, and the first three FOBI directions
    // are the tails, as on an mlp's ReLU layer (MNIST, blend α 0.2 at 10%, seed 2).
    const { styled, model, count, poisoned } = styledCase(13, [[13, 0.5, 0.05]]);
    const first = await triggerTransfer(styled, model, {
      seed: 3,
      principalDirections: 1,
      kurtosisDirections: 3,
    });
    expect(count(first.flagged).hits).toBeLessThan(poisoned.size / 2);
    const report = await triggerTransfer(styled, model, { seed: 3 });
    const { hits, all } = count(report.flagged);
    expect(hits / poisoned.size).toBeGreaterThanOrEqual(0.95);
    expect(hits / all).toBeGreaterThanOrEqual(0.95);
    expect(report.perClass[0]!.stats.direction).toMatch(/^principal-[23]$/);
    for (const f of report.perClass.slice(1)) expect(f.flagged).toBe(0);
  });

  it('expands a confirmed sub-mode to all the poison by removing its pattern from every record', async () => {
    // The planted case seen through a representation that splits the poison by its source (as an
    // mlp keeps the source digit): trigger carriers of sources 1–2 sit at −2 and those of sources
    // 3–5 at +2 along one feature, so the candidate cluster is one of the two sub-modes; the
    // removal test (value 15 back to 0 sends every carrier to its source) finds both.
    const { ds, model, poisoned } = plantedCase();
    const split = splitCarriers(model, 6, (x, o) =>
      x[o + 15]! >= 0.5 ? (x[o]! > 0.5 ? 2 : -2) : 0,
    );
    const report = await triggerTransfer(ds, split, { seed: 3 });
    const flagged = [...report.flagged.keys()].filter((i) => report.flagged[i] === 1);
    const hits = flagged.filter((i) => poisoned.has(i)).length;
    const target = report.perClass[0]!;
    expect(target.suspicious).toBe(true);
    expect(target.stats.candidate).toBeLessThan(poisoned.size * 0.75);
    // Every carrier but the few of source 1 whose value 0 lies so close to class 0's range that
    // the pattern's small shift of value 0 keeps them there; nothing clean.
    expect(hits / poisoned.size).toBeGreaterThanOrEqual(0.9);
    expect(flagged.length).toBe(hits);
    for (const f of report.perClass.slice(1)) expect(f.flagged).toBe(0);
  });

  it('flags nothing in a clean set', async () => {
    const { ds, model, poisoned } = plantedCase();
    const keep = [...ds.y.keys()].filter((i) => !poisoned.has(i));
    const size = 16;
    const clean: Dataset = {
      ...ds,
      x: Float32Array.from(
        keep.flatMap((i) => Array.from(ds.x.subarray(i * size, (i + 1) * size))),
      ),
      shape: [keep.length, 4, 4, 1],
      y: Int32Array.from(keep, (i) => ds.y[i]!),
      ids: keep.map((i) => ds.ids[i]!),
    };
    const report = await triggerTransfer(clean, model, { seed: 3 });
    expect(report.flagged.reduce((a, v) => a + v, 0)).toBe(0);
    for (const f of report.perClass) {
      expect(f.strength).toBeLessThan(STRONG_EVIDENCE);
      expect(f.stats.departureStrength).toBeLessThan(STRONG_EVIDENCE);
    }
  });

  it('confirms an all-to-all backdoor by its consistent departure', async () => {
    // A class's pattern moves only the probes of class c − 1 to c (a fifth of them: every class
    // alike, nothing stands out among the classes); it moves the others out of their class, each
    // to the next one (allToAllCase).
    const { ds, model, poisoned } = allToAllCase();
    const report = await triggerTransfer(ds, model, { seed: 3 });
    const flagged = [...report.flagged.keys()].filter((i) => report.flagged[i] === 1);
    const hits = flagged.filter((i) => poisoned.has(i)).length;
    expect(hits / poisoned.size).toBeGreaterThanOrEqual(0.95);
    expect(hits / flagged.length).toBeGreaterThanOrEqual(0.95);
    for (const f of report.perClass) {
      expect(f.suspicious).toBe(true);
      expect(f.stats.transfer).toBeLessThan(0.5);
      expect(f.stats.departureStrength).toBeGreaterThanOrEqual(STRONG_EVIDENCE);
    }
  });

  it('searches the principal directions above the average variance, beyond the first three', async () => {
    // The planted case with three two-mode styles in every class (values 11–13 at ±0.45, ±0.4,
    // ±0.35: variances 0.20, 0.16, 0.12, above the poison's 0.08 along value 15) and heavy-tailed
    // quiet values 1–3 (2% of records ×40), which take the first three FOBI directions: the
    // poison lies along the fourth principal direction, as on MNIST mlp, single pixel all-to-all
    // (the poison of "2" along the fourth and eighth). Four of the class's directions are above
    // the average variance.
    const { styled, model, count, poisoned } = styledCase(17, [
      [11, 0.45, 0.03],
      [12, 0.4, 0.03],
      [13, 0.35, 0.03],
    ]);
    const three = await triggerTransfer(styled, model, {
      seed: 3,
      principalDirections: 3,
      kurtosisDirections: 3,
    });
    expect(count(three.flagged).hits).toBeLessThan(poisoned.size / 2);
    const report = await triggerTransfer(styled, model, { seed: 3, kurtosisDirections: 3 });
    // The later directions' cleanest mode is a third candidate, the poison (the cleanest of all);
    // it serves the departure only (all-to-all), so this all-to-one poison is not flagged by it
    // and the transfer's statistics are those of the first three directions.
    const sizes = (r: typeof report) => r.perClass[0]!.stats.candidateSizes as number[];
    const separations = (r: typeof report) => r.perClass[0]!.stats.candidateSeparations as number[];
    expect(sizes(three)).toHaveLength(2);
    expect(sizes(report)).toHaveLength(3);
    expect(Math.max(...separations(report))).toBeGreaterThan(Math.max(...separations(three)));
    expect(count(report.flagged).hits).toBe(count(three.flagged).hits);
    expect(report.perClass[0]!.strength).toBe(three.perClass[0]!.strength);
  });

  it('expands an all-to-all candidate confirmed by its departure to all the poison of its class', async () => {
    // The all-to-all case below, with ten classes, seen through a representation that splits
    // each class's poison in two sub-modes (by the source record's place in its class, as an mlp
    // keeps a digit's style): the candidate is one of them; the removal test (value 15 back to 0
    // sends every carrier to its source) finds the other, whose own pattern departs alike. On 40
    // probes a candidate's transfer to its class (a ninth of the probes) does not beat the
    // control's beyond sampling error, so only its departure can call the test.
    const k = 10;
    const { ds, model, poisoned } = allToAllCase(k);
    const split = splitCarriers(model, k, (x, o) =>
      x[o + 15]! >= 0.15 ? (x[o]! - Math.floor(x[o]!) < 0.5 ? 2 : -2) : 0,
    );
    const report = await triggerTransfer(ds, split, { seed: 3, probes: 40 });
    const flagged = [...report.flagged.keys()].filter((i) => report.flagged[i] === 1);
    const hits = flagged.filter((i) => poisoned.has(i)).length;
    for (const f of report.perClass) {
      expect(f.suspicious).toBe(true);
      expect(f.stats.candidate).toBeLessThan(30);
    }
    // The candidates alone hold 57% of the poison (227 of 400, nothing clean); with the test, 86%
    // (344), beside 23 clean records: fragile ones near a class boundary that the removal sends
    // out with the carriers, judged as one set with them (precision 0.94).
    expect(hits / poisoned.size).toBeGreaterThanOrEqual(0.8);
    expect(hits / flagged.length).toBeGreaterThanOrEqual(0.9);
    // The added records score at least as the candidate's least suspicious record (the other
    // sub-mode lies on the far side of its direction: by its own projection it scores 0), so a
    // scan's corroboration cutoff of the class stays the candidate's.
    for (let c = 0; c < k; c++) {
      const scores = flagged.filter((i) => ds.y[i] === c).map((i) => report.scores[i]!);
      if (scores.length > Number(report.perClass[c]!.stats.candidate)) {
        expect(Math.min(...scores)).toBeGreaterThan(0);
      }
    }
  });

  it('flags the largest candidate of a class that departs as far as its best, once one is corroborated', () => {
    // Four classes of 100 records. Each offers three candidates whose patterns depart beyond the
    // control (0.025): the whole poison (40 records, departure 0.34), whose pattern moves most
    // probes of one source only, so its map cannot be corroborated; a sub-mode of it (15 records,
    // departure 0.37) whose pattern moves every other source to the next class, as every class's
    // does (MNIST mlp, image insert all-to-all, class "6": 541 records against 130); and a loose
    // candidate of a later direction (70 records, departure 0.15, far below the best: clean
    // records dilute the trigger; Fashion-MNIST mlp, single pixel all-to-all, "Bag").
    const k = 4;
    const per = 100;
    const y = Int32Array.from({ length: k * per }, (_, i) => Math.floor(i / per));
    const plan = defaultPlan(k);
    const candidate = (
      direction: 'principal' | 'kurtosis',
      rank: number,
      size: number,
      separation: number,
      departure: number,
      departureMap: Int32Array,
    ): TriggerTransferCandidateStats => ({
      direction,
      rank,
      size,
      transfer: 0.05,
      rows: Int32Array.from({ length: size }, (_, r) => r),
      separation,
      scores: new Float32Array(per),
      removal: null,
      departure,
      departureMap,
      controlDeparture: 0.025,
    });
    const stats = Array.from({ length: k }, (_, c) => {
      const one = new Int32Array(k).fill(-1);
      one[(c + 2) % k] = (c + 3) % k;
      const every = Int32Array.from({ length: k }, (_, s) => (s === c ? -1 : (s + 1) % k));
      return {
        candidates: [
          candidate('principal', 0, 40, 28, 0.34, one),
          candidate('principal', 4, 70, 8, 0.15, one),
          candidate('kurtosis', 0, 15, 11, 0.37, every),
        ],
        control: 0.04,
        controlDeparture: 0.025,
      };
    });
    const report = triggerTransferAmongClasses({ y, classes: ['a', 'b', 'c', 'd'] }, stats, plan);
    for (const f of report.perClass) {
      expect(f.suspicious).toBe(true);
      expect(f.flagged).toBe(40);
      expect(f.stats.direction).toBe('principal');
    }
  });

  it('counts a departure only where candidates of three classes move the probes alike', () => {
    // Six classes of 100 records, each with one candidate that does not transfer to its class.
    // Classes 0 and 1 (and, in the second run, 2) hold candidates whose patterns move the probes
    // out of their classes far beyond the control (0.22 against 0.05), with maps that agree (source
    // 3 to 4, 4 to 5): two clean sub-styles can share the classes' natural confusions
    // (Fashion-MNIST mlp, blend α 0.1 at 10%, seed 2: "Shirt" and "Ankle boot"); an all-to-all
    // trigger is found in every class it serves.
    const k = 6;
    const per = 100;
    const y = Int32Array.from({ length: k * per }, (_, i) => Math.floor(i / per));
    const plan = defaultPlan(k);
    const map = Int32Array.from({ length: k }, (_, s) => (s === 3 ? 4 : s === 4 ? 5 : -1));
    const none = new Int32Array(k).fill(-1);
    const run = (departing: number) => {
      const stats = Array.from({ length: k }, (_, c) => ({
        candidates: [
          {
            direction: 'kurtosis' as const,
            rank: 0,
            size: 30,
            transfer: 0.06,
            rows: Int32Array.from({ length: 30 }, (_, r) => r),
            separation: 10,
            scores: new Float32Array(per),
            removal: null,
            departure: c < departing ? 0.22 : 0.04,
            departureMap: c < departing ? map : none,
            controlDeparture: 0.05,
          },
        ],
        control: 0.05,
        controlDeparture: 0.05,
      }));
      return triggerTransferAmongClasses(
        { y, classes: ['a', 'b', 'c', 'd', 'e', 'f'] },
        stats,
        plan,
      ).perClass.map((f) => f.suspicious);
    };
    expect(run(2)).toEqual([false, false, false, false, false, false]);
    expect(run(3)).toEqual([true, true, true, false, false, false]);
  });

  it('judges a removal-tested candidate by the transfer of its core, not of its diluted upper mode', () => {
    // Six classes of 200 records. Class 0 holds a trigger at 1% of its class: its candidate's
    // pattern moves 0.415 of the probes (control 0.08); removing it sends 100 records into the
    // upper mode of the class's falls, mostly clean ones a global pattern pushes over a boundary,
    // whose pattern moves only 0.125, while the 8 records that fall as deeply as the candidate's
    // own move 0.465 (Fashion-MNIST mlp, checkerboard at 1% of "T-shirt/top"). Class 3 holds a
    // natural sub-style: its pattern moves 0.605, its upper mode 0.27, but the records that need
    // it as much are 150 of the class and their pattern moves 0.04 (Fashion-MNIST, "Ankle boot").
    const k = 6;
    const per = 200;
    const y = Int32Array.from({ length: k * per }, (_, i) => Math.floor(i / per));
    const plan = defaultPlan(k);
    const rows = (n: number) => Int32Array.from({ length: n }, (_, r) => r);
    const candidate = (
      transfer: number,
      size: number,
      removal: TriggerTransferCandidateStats['removal'],
    ): TriggerTransferCandidateStats => ({
      direction: 'kurtosis',
      rank: 0,
      size,
      transfer,
      rows: rows(size),
      separation: 12,
      scores: Float32Array.from({ length: per }, (_, r) => (r < size ? 5 : 0)),
      removal,
      departure: 0.01,
      departureMap: new Int32Array(k).fill(-1),
      controlDeparture: 0.03,
    });
    const removal = (transfer: number, core: number, coreTransfer: number, dropped = 0) => ({
      rows: rows(100),
      transfer,
      leaving: 120,
      scores: new Float32Array(per),
      added: new Int32Array(0),
      dropped: rows(dropped),
      addedTransfer: 0,
      core,
      coreTransfer,
    });
    const stats = Array.from({ length: k }, (_, c) => ({
      candidates: [
        c === 0
          ? candidate(0.415, 30, removal(0.125, 8, 0.465))
          : c === 3
            ? candidate(0.605, 40, removal(0.27, 150, 0.04))
            : candidate(0.09 + 0.01 * c, 30, null),
      ],
      control: 0.08,
      controlDeparture: 0.03,
    }));
    const report = triggerTransferAmongClasses(
      { y, classes: ['a', 'b', 'c', 'd', 'e', 'f'] },
      stats,
      plan,
    );
    expect(report.perClass.map((f) => f.suspicious)).toEqual([
      true,
      false,
      false,
      false,
      false,
      false,
    ]);
    expect(report.perClass[0]!.flagged).toBe(30);
    expect(report.perClass[3]!.flagged).toBe(0);
    // The candidate's records on which the pattern's effect is as small as on the fragile records
    // the removal test rejected are not flagged with it.
    const trimmed = stats.map((st, c) =>
      c === 0 ? { ...st, candidates: [candidate(0.415, 30, removal(0.125, 8, 0.465, 6))] } : st,
    );
    const again = triggerTransferAmongClasses(
      { y, classes: ['a', 'b', 'c', 'd', 'e', 'f'] },
      trimmed,
      plan,
    );
    expect(again.perClass[0]!.flagged).toBe(24);
    expect([...again.flagged.subarray(0, 6)]).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it("judges a wide kurtosis candidate among the classes' wide candidates only", () => {
    // Six classes of 200 records, control 0.08 each. Every class has a candidate of the first
    // directions and one of the wide search. In the first run class 0's first candidate carries a
    // trigger (0.5 of the probes) and every wide candidate is a clean sub-style moving 0.3–0.4:
    // judged among all candidates, the clean classes' best gains would be 0.22–0.32 and class 0's
    // 0.42 no outlier. In the second, class 2's wide candidate is a poison too small for the
    // first directions (0.7 of the probes), the others 0.05–0.1.
    const k = 6;
    const per = 200;
    const y = Int32Array.from({ length: k * per }, (_, i) => Math.floor(i / per));
    const plan = { ...defaultPlan(k), dims: 64 };
    const candidate = (
      direction: 'kurtosis' | 'wide-kurtosis',
      transfer: number,
      size: number,
    ): TriggerTransferCandidateStats => ({
      direction,
      rank: 0,
      size,
      transfer,
      rows: Int32Array.from({ length: size }, (_, r) => (direction === 'kurtosis' ? r : 199 - r)),
      separation: 12,
      scores: new Float32Array(per),
      removal: null,
      departure: 0.01,
      departureMap: new Int32Array(k).fill(-1),
      controlDeparture: 0.03,
    });
    const judge = (first: (c: number) => number, wide: (c: number) => number) =>
      triggerTransferAmongClasses(
        { y, classes: ['a', 'b', 'c', 'd', 'e', 'f'] },
        Array.from({ length: k }, (_, c) => ({
          candidates: [candidate('kurtosis', first(c), 30), candidate('wide-kurtosis', wide(c), 8)],
          control: 0.08,
          controlDeparture: 0.03,
        })),
        plan,
      );
    const a = judge(
      (c) => (c === 0 ? 0.5 : 0.09 + 0.01 * c),
      (c) => 0.3 + 0.02 * c,
    );
    expect(a.perClass.map((f) => f.suspicious)).toEqual([true, false, false, false, false, false]);
    expect(a.perClass[0]!.flagged).toBe(30);
    expect(a.perClass[0]!.stats.direction).toBe('kurtosis');
    const b = judge(
      (c) => 0.09 + 0.01 * c,
      (c) => (c === 2 ? 0.7 : 0.05 + 0.01 * c),
    );
    expect(b.perClass.map((f) => f.suspicious)).toEqual([false, false, true, false, false, false]);
    expect(b.perClass[2]!.flagged).toBe(8);
    expect(b.perClass[2]!.stats.direction).toBe('wide-kurtosis');
    expect([...b.flagged.subarray(2 * per + 192, 3 * per)]).toEqual(new Array(8).fill(1));
  });

  it('purifies a candidate that mixes carriers and clean records', async () => {
    // Six classes of 16-value records read from value 0; 40 records of classes 1–5 with value 15
    // at 1 are labelled 0, and the model sends a record to class 0 from value 15 = 0.7 up. The
    // candidate holds the 40 carriers and 60 clean "0"s, so its pattern carries value 15 at 0.4:
    // added to other classes' records it moves none (0.4 < 0.7), removed from a carrier it leaves
    // 0.6 and sends it back to its source. The carriers are its purest part, and their pattern
    // (value 15 at about 1) moves every probe.
    const k = 6;
    const size = 16;
    const rng = new Rng(11);
    const xs: number[] = [];
    const y: number[] = [];
    for (let c = 0; c < k; c++) {
      for (let r = 0; r < 200; r++) {
        xs.push((c + rng.uniform(0.02, 0.98)) / k);
        for (let j = 1; j < size; j++) xs.push(Math.abs(rng.normal(0, 0.02)));
        y.push(c);
      }
    }
    for (let p = 0; p < 40; p++) {
      xs.push((1 + (p % (k - 1)) + rng.uniform(0.02, 0.98)) / k);
      for (let j = 1; j < size - 1; j++) xs.push(Math.abs(rng.normal(0, 0.02)));
      xs.push(1);
      y.push(0);
    }
    const x = Float32Array.from(xs);
    const model = readingClassifier(k, size, (v, o) =>
      v[o + 15]! >= 0.7 ? 0 : Math.min(k - 1, Math.max(0, Math.floor(v[o]! * k))),
    );
    const idx = Int32Array.from(y.flatMap((c, i) => (c === 0 ? [i] : [])));
    // Positions among the class: 200 clean records, then the 40 carriers.
    const rows = Int32Array.from([
      ...Array.from({ length: 60 }, (_, r) => r),
      ...Array.from({ length: 40 }, (_, r) => 200 + r),
    ]);
    const others = Int32Array.from(y.flatMap((c, i) => (c === 0 ? [] : [i])));
    const pattern = new Float64Array(size);
    pattern[15] = 0.4;
    const rec = { x, size, offset: (i: number) => i * size };
    const at = {
      c: 0,
      refs: others.filter((_, t) => t % 2 === 0),
      probes: others.filter((_, t) => t % 2 === 1).slice(0, 200),
      plan: defaultPlan(k),
      rng: new Rng(3),
    };
    const out = await purifiedTransfer(rec, model, rows, idx, pattern, new Float64Array(size), at);
    expect(Array.from(out.rows)).toEqual(Array.from({ length: 40 }, (_, r) => 200 + r));
    expect(out.size).toBe(40);
    expect(out.transfer).toBeGreaterThan(0.95);
    // Nothing to purify: a candidate of clean records only keeps none.
    const clean = await purifiedTransfer(
      rec,
      model,
      rows.slice(0, 60),
      idx,
      pattern,
      new Float64Array(size),
      at,
    );
    expect(clean.size).toBe(0);
    expect(clean.transfer).toBe(0);
  });

  it('finds a poison of 0.5% of its class along a direction of little variance', async () => {
    const { ds, model, poisoned } = sparsePoisonCase();
    const hits = (flagged: Uint8Array) => {
      const all = [...flagged.keys()].filter((i) => flagged[i] === 1);
      return { hits: all.filter((i) => poisoned.has(i)).length, all: all.length };
    };
    // The defaults: wide kurtosis directions among 64 whitened ones, candidates from 0.4% of a
    // class along them.
    const found = await triggerTransfer(ds, model, { seed: 1 });
    expect(found.perClass[0]!.suspicious).toBe(true);
    const h = hits(found.flagged);
    expect(h.hits).toBeGreaterThanOrEqual(7);
    expect(h.hits / h.all).toBeGreaterThanOrEqual(0.85);
    for (const f of found.perClass.slice(1)) expect(f.flagged).toBe(0);
    // Without the wide search, or with its smallest candidate at 0.5%, it is missed: the
    // poison's direction lies beyond the class's 32 largest, and a mode of 0.53% is cut at a
    // boundary of 0.5% of the class (read as a tail).
    for (const narrow of [{ dims: 32 }, { wideMinShare: 0.005 }]) {
      const missed = await triggerTransfer(ds, model, { seed: 1, ...narrow });
      expect(missed.perClass[0]!.suspicious).toBe(false);
      expect(hits(missed.flagged).hits).toBe(0);
    }
  });

  it('reads two candidates as one mode only where each holds most of the other', () => {
    const range = (from: number, to: number) =>
      Int32Array.from({ length: to - from }, (_, i) => from + i);
    // A wide mode of 43 records, 41 of them in a first-direction candidate of 48 ("Bag").
    expect(sameMode(range(0, 43), range(2, 50))).toBe(true);
    expect(sameMode(range(2, 50), range(0, 43))).toBe(true);
    // A 30-record poison inside a loose candidate of 1,598: not the same mode.
    expect(sameMode(range(100, 130), range(0, 1598))).toBe(false);
    // Little overlap, or exactly half: not the same mode.
    expect(sameMode(range(0, 27), range(21, 260))).toBe(false);
    expect(sameMode(range(0, 20), range(10, 30))).toBe(false);
  });

  it('drops a wide mode only where a candidate whose transfer is judged holds it', () => {
    const range = (from: number, to: number) =>
      Int32Array.from({ length: to - from }, (_, i) => from + i);
    const poison = range(100, 130);
    // The same 30 records as a later principal direction's candidate (departure only): kept.
    expect(heldByJudged(poison, [{ group: 'principal-later', rows: range(100, 130) }])).toBe(false);
    // As a first-direction kurtosis or principal candidate's: judged there, dropped.
    expect(heldByJudged(poison, [{ group: 'kurtosis', rows: range(98, 131) }])).toBe(true);
    expect(
      heldByJudged(poison, [
        { group: 'principal-later', rows: range(100, 130) },
        { group: 'principal', rows: range(100, 140) },
      ]),
    ).toBe(true);
    // Inside a loose candidate only: not the same mode, kept.
    expect(heldByJudged(poison, [{ group: 'kurtosis', rows: range(0, 1598) }])).toBe(false);
  });

  it('refuses bad options', async () => {
    const { ds, model } = plantedCase();
    await expect(triggerTransfer(ds, model, { probes: 0 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(triggerTransfer(ds, model, { kurtosisDirections: 0 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(triggerTransfer(ds, model, { principalDirections: 1.5 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(triggerTransfer(ds, model, { minShare: 0.6 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(triggerTransfer(ds, model, { wideMinShare: 0 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });
});

/**
 * Six classes read from value 0 (uniform in [c, c + 1]: wide beside the trigger, so a carrier's
 * nearest record of another class is a clean one of its source); in every class c, 40 poisoned
 * records are records of class c − 1 with value 15 set to 0.3, and the model sends a record with
 * value 15 on from its class k to k + 1 (all-to-all).
 */
function allToAllCase(k = 6): { ds: Dataset; model: Classifier; poisoned: Set<number> } {
  const size = 16;
  const rng = new Rng(7);
  const xs: number[] = [];
  const ys: number[] = [];
  const poisoned = new Set<number>();
  const record = (source: number, trigger: boolean) => {
    const x = [source + rng.uniform(0.02, 0.98)];
    for (let j = 1; j < size; j++) x.push(rng.normal(0, 0.02));
    if (trigger) x[15] = 0.3;
    return x;
  };
  for (let c = 0; c < k; c++) {
    for (let r = 0; r < 400; r++) {
      xs.push(...record(c, false));
      ys.push(c);
    }
    for (let p = 0; p < 40; p++) {
      poisoned.add(ys.length);
      xs.push(...record((c + k - 1) % k, true));
      ys.push(c);
    }
  }
  const n = ys.length;
  const ds: Dataset = {
    x: Float32Array.from(xs),
    shape: [n, 4, 4, 1],
    y: Int32Array.from(ys),
    classes: Array.from({ length: k }, (_, c) => `c${c}`),
    ids: ys.map((_, i) => `r${i}`),
  };
  const predictOne = (x: Float32Array, o: number): number => {
    const source = Math.min(k - 1, Math.max(0, Math.floor(x[o]!)));
    return x[o + 15]! >= 0.15 ? (source + 1) % k : source;
  };
  const model = readingClassifier(k, size, predictOne);
  return { ds, model, poisoned };
}

/**
 * The planted case with heavy-tailed quiet values 1–3 (2% of records ×40) and two-mode styles in
 * every class (`[value, ±amplitude, SD]`), seeded by `seed`; `count` gives the poisoned records
 * and all records a report flags.
 */
function styledCase(seed: number, styles: readonly (readonly [number, number, number])[]) {
  const { ds, model, poisoned } = plantedCase();
  const rng = new Rng(seed);
  const x = Float32Array.from(ds.x);
  for (let i = 0; i < ds.y.length; i++) {
    for (const j of [1, 2, 3]) if (rng.uniform(0, 1) < 0.02) x[i * 16 + j]! *= 40;
    for (const [j, a, sd] of styles) {
      x[i * 16 + j] = (rng.uniform(0, 1) < 0.5 ? -a : a) + rng.normal(0, sd);
    }
  }
  const styled: Dataset = { ...ds, x };
  const count = (flagged: Uint8Array) => {
    const all = [...flagged.keys()].filter((i) => flagged[i] === 1);
    return { hits: all.filter((i) => poisoned.has(i)).length, all: all.length };
  };
  return { styled, model, poisoned, count };
}

/**
 * `model` (a {@link readingClassifier} of `k` classes over 16 values) seen through a
 * representation that splits the trigger's carriers in two sub-modes, as an mlp keeps the source
 * digit or its style: its prediction (one-hot, ×3), values 1–14, and `side(x, o)` (±2 for a
 * carrier, 0 elsewhere).
 */
function splitCarriers(
  model: Classifier,
  k: number,
  side: (x: Float32Array, o: number) => number,
): Classifier {
  const size = 16;
  return {
    ...model,
    async activations(x, m) {
      const dim = k + size;
      const data = new Float32Array(m * dim);
      const labels = await model.predict(x, m);
      for (let i = 0; i < m; i++) {
        data[i * dim + labels[i]!] = 3;
        for (let j = 1; j < size - 1; j++) data[i * dim + k + j - 1] = x[i * size + j]!;
        data[i * dim + dim - 1] = side(x, i * size);
      }
      return { data, dim };
    },
  };
}

/**
 * A plan for the toy tests on `k` classes of images in [0, 1]: the options they were written for
 * (32 dims, candidates from 0.5% of a class, three FOBI directions), not today's defaults.
 */
function defaultPlan(k: number): TriggerTransferPlan {
  return {
    dims: 32,
    minShare: 0.005,
    wideMinShare: 0.004,
    principalDirections: 'above-average',
    kurtosisDirections: 3,
    patternRecords: 100,
    references: 500,
    probes: 200,
    seed: 0,
    layer: null,
    images: true,
    numClasses: k,
    lo: 0,
    hi: 1,
  };
}
