import { describe, expect, it } from 'vitest';
import { isAntidoteError } from '../errors.js';
import { knnTrainer, rowImages } from '../testing/knn.js';
import { type ExperimentProgress, runExperiment } from './experiment.js';
import { sweep, sweepToCsv, triggerLabel } from './sweep.js';

const train = rowImages(150, 3, 1);
const test = rowImages(60, 3, 2);
const victim = { model: 'knn' };

describe('runExperiment', () => {
  it('backdoor: the victim learns the trigger, the clean model does not', async () => {
    const log = { trained: 0, disposed: 0, seeds: [] as number[] };
    const stages: ExperimentProgress['stage'][] = [];
    const r = await runExperiment(
      {
        name: 'bd',
        train,
        test,
        attack: {
          attack: 'backdoor',
          trigger: { kind: 'pattern' },
          mode: 'all-to-one',
          target: 0,
          rate: 0.1,
        },
        victim,
        seed: 5,
      },
      { trainer: knnTrainer(log), onProgress: (e) => stages.push(e.stage) },
    );
    expect(log).toEqual({ trained: 2, disposed: 2, seeds: [5, 5] });
    expect(stages[0]).toBe('train-clean');
    expect(stages.at(-1)).toBe('done');
    expect(new Set(stages)).toEqual(
      new Set(['train-clean', 'poison', 'train-victim', 'evaluate', 'done']),
    );
    expect(r.poison).toEqual({
      count: 15,
      poisonedSize: 150,
      rateDefinition: 'of-training-set',
      achievedRate: 0.1,
    });
    expect(r.clean?.accuracy).toBe(1);
    expect(r.clean?.backdoor?.attackSuccessRate).toBe(0);
    expect(r.poisoned.backdoor?.attacked).toBe(40);
    expect(r.poisoned.backdoor?.attackSuccessRate).toBe(1);
    expect(r.poisoned.backdoor?.robustAccuracy).toBe(0);
    expect(r.poisoned.accuracy).toBe(1);
    expect(r.accuracyDrop).toBe(0);
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  });

  it('label flip: accuracy drops against the clean model; adversarial needs the clean model', async () => {
    const log = { trained: 0, disposed: 0, seeds: [] as number[] };
    const r = await runExperiment(
      {
        train,
        test,
        attack: { attack: 'label-flip', mode: 'targeted', source: 1, target: 2, rate: 0.3 },
        victim,
        seed: 1,
      },
      { trainer: knnTrainer(log) },
    );
    expect(r.poison.count).toBe(45);
    expect(r.poisoned.backdoor).toBeUndefined();
    expect(r.accuracyDrop).toBeGreaterThan(0.2);
    expect(r.poisoned.perClassAccuracy[0]).toBe(1);
    const adv = await runExperiment(
      {
        train,
        test,
        attack: { attack: 'label-flip', mode: 'adversarial', rate: 0.2 },
        victim,
        seed: 1,
      },
      { trainer: knnTrainer(log) },
    );
    expect(adv.poison.count).toBe(30);
    expect(adv.accuracyDrop).toBeGreaterThan(0);
    await expect(
      runExperiment(
        {
          train,
          test,
          attack: { attack: 'label-flip', mode: 'adversarial', rate: 0.2 },
          victim,
          seed: 1,
        },
        { trainer: knnTrainer(log), cleanModel: null },
      ),
    ).rejects.toSatisfy((e) => isAntidoteError(e, 'INVALID_ARGUMENT'));
  });

  it('bad parameters fail before any training', async () => {
    const log = { trained: 0, disposed: 0, seeds: [] as number[] };
    const bad = [
      {
        attack: 'backdoor',
        trigger: { kind: 'pattern' },
        mode: 'all-to-one',
        target: 3,
        rate: 0.1,
      },
      {
        attack: 'backdoor',
        trigger: { kind: 'checkerboard', size: 20 },
        mode: 'all-to-one',
        target: 0,
        rate: 0.1,
      },
      { attack: 'label-flip', mode: 'random', rate: 1 },
      { attack: 'label-flip', mode: 'adversarial', rate: 1.5 },
      { attack: 'poison-ivy' },
    ];
    for (const attack of bad) {
      await expect(
        runExperiment(
          { train, test, attack: attack as never, victim, seed: 1 },
          { trainer: knnTrainer(log) },
        ),
      ).rejects.toSatisfy((e) => isAntidoteError(e, 'INVALID_ARGUMENT'));
    }
    expect(log.trained).toBe(0);
  });
});

describe('sweep', () => {
  it('runs seeds × triggers × rates with one clean model per seed, and writes a CSV table', async () => {
    const log = { trained: 0, disposed: 0, seeds: [] as number[] };
    const events: string[] = [];
    const result = await sweep(
      {
        train,
        test,
        attack: {
          attack: 'backdoor',
          trigger: { kind: 'pattern' },
          mode: 'all-to-one',
          target: 0,
          rate: 0,
        },
        triggers: [{ kind: 'pattern' }, { kind: 'image', image: 'bright-square', size: 3 }],
        rates: [0, 0.05],
        seeds: [1, 2],
        victim,
      },
      {
        trainer: knnTrainer(log),
        onProgress: (p) => events.push(`${p.run}/${p.runs}:${p.experiment.stage}`),
      },
    );
    expect(result.rows.length).toBe(8);
    expect(log.trained).toBe(2 + 8); // one clean model per seed + one victim per run
    expect(log.disposed).toBe(10);
    expect(events[0]).toBe('0/8:train-clean');
    expect(events.at(-1)).toBe('7/8:done');
    for (const row of result.rows) {
      expect(row.attackSuccessRate).toBe(row.rate === 0 ? 0 : 1);
      expect(row.cleanAccuracy).toBe(1);
    }
    expect(result.rows.map((r) => r.trigger)).toEqual([
      'pattern',
      'pattern',
      'image:bright-square:3',
      'image:bright-square:3',
      'pattern',
      'pattern',
      'image:bright-square:3',
      'image:bright-square:3',
    ]);
    const csv = sweepToCsv(result.rows);
    const lines = csv.trimEnd().split('\r\n');
    expect(lines[0]).toBe(
      'seed,trigger,rate,poisoned,cleanAccuracy,accuracy,accuracyDrop,attackSuccessRate,robustAccuracy',
    );
    expect(lines.length).toBe(9);
    expect(lines[2]).toBe('1,pattern,0.05,8,1,1,0,1,0');
  });

  it('label-flip sweeps leave backdoor columns empty', async () => {
    const log = { trained: 0, disposed: 0, seeds: [] as number[] };
    const result = await sweep(
      {
        train,
        test,
        attack: { attack: 'label-flip', mode: 'random' },
        rates: [0.1, 0.4],
        seeds: [3],
        victim,
      },
      { trainer: knnTrainer(log) },
    );
    expect(result.rows[1]!.accuracyDrop).toBeGreaterThan(result.rows[0]!.accuracyDrop!);
    expect(sweepToCsv(result.rows).split('\r\n')[1]).toMatch(/^3,,0\.1,15,1,[\d.]+,[\d.]+,,$/);
  });

  it('rejects bad specs', async () => {
    const trainer = knnTrainer({ trained: 0, disposed: 0, seeds: [] });
    const base = { train, test, victim, attack: { attack: 'label-flip', mode: 'random' } as const };
    for (const patch of [
      { rates: [], seeds: [1] },
      { rates: [1], seeds: [1] },
      { rates: [0.1], seeds: [1.5] },
      { rates: [0.1], seeds: [1], triggers: [{ kind: 'pixel' as const }] },
    ]) {
      await expect(sweep({ ...base, ...patch }, { trainer })).rejects.toSatisfy((e) =>
        isAntidoteError(e, 'INVALID_ARGUMENT'),
      );
    }
  });

  it('validates every combination before the first training', async () => {
    const log = { trained: 0, disposed: 0, seeds: [] as number[] };
    await expect(
      sweep(
        {
          train,
          test,
          victim,
          attack: {
            attack: 'backdoor',
            trigger: { kind: 'pixel' },
            mode: 'source-to-target',
            source: 1,
            target: 0,
            rate: 0,
          },
          rates: [0.01, 0.5], // 0.5 of 150 = 75 > 50 records of class 1
          seeds: [1],
        },
        { trainer: knnTrainer(log) },
      ),
    ).rejects.toSatisfy((e) => isAntidoteError(e, 'INVALID_ARGUMENT'));
    expect(log.trained).toBe(0);
  });

  it('labels triggers', () => {
    expect(triggerLabel({ kind: 'image', image: '/a/b/c.png', size: 4 })).toBe('image:c.png:4');
    expect(triggerLabel({ kind: 'blend', alpha: 0.2 })).toBe('blend:0.2');
  });
});
