import { describe, expect, it } from 'vitest';
import {
  FRAUD_COLUMNS,
  fraudLikeCsv,
  MATRIX_IMAGE_TRIGGERS,
  type MatrixCase,
  type MatrixRow,
  matrixCaseKey,
  matrixGrid,
  matrixRateDefinition,
  matrixTable,
  matrixTargets,
  matrixTargetsMarkdown,
} from './detection-matrix.js';

const base: MatrixCase = {
  dataset: 'mnist',
  model: 'cnn',
  epochs: 2,
  attack: 'backdoor',
  trigger: 'pattern',
  mode: 'all-to-one',
  rate: 0.1,
  target: 0,
  seed: 1,
};

function row(
  c: MatrixCase,
  over: Partial<MatrixRow> & { f1?: number | null; verdict?: string | null; flagged?: number } = {},
): MatrixRow {
  const { f1 = 1, verdict = 'FAIL', flagged = 10, ...rest } = over;
  return {
    key: matrixCaseKey(c),
    case: c,
    records: 60000,
    poisoned: 10,
    asr: 0.9,
    cleanAccuracy: 0.98,
    detectors: { ac: { precision: 1, recall: 1, f1: 1, flagged: 10, seconds: 1 } },
    decision: {
      precision: f1,
      recall: f1,
      f1,
      flagged,
      seconds: 5,
      methods: ['ac'],
      verdict,
      reason: 'x',
    },
    ...rest,
  };
}

describe('detection matrix: case keys', () => {
  it('are stable, file-name safe and differ in every parameter', () => {
    expect(matrixCaseKey(base)).toBe('mnist-cnn-e2-backdoor-pattern-all-to-one-10pct-t0-s1');
    expect(matrixCaseKey({ ...base })).toBe(matrixCaseKey(base));
    const variants: MatrixCase[] = [
      { ...base, dataset: 'fashion-mnist' },
      { ...base, model: 'mlp' },
      { ...base, epochs: 10 },
      { ...base, trigger: 'blend-0.1' },
      { ...base, mode: 'all-to-all' },
      { ...base, rate: 0.005 },
      { ...base, target: 3 },
      { ...base, seed: 2 },
      { ...base, limit: 3000 },
    ];
    const keys = new Set([matrixCaseKey(base), ...variants.map(matrixCaseKey)]);
    expect(keys.size).toBe(variants.length + 1);
    expect(matrixCaseKey({ ...base, rate: 0.005 })).toContain('-0.5pct-');
    const tab = matrixCaseKey({
      ...base,
      attack: 'tabular-backdoor',
      trigger: 'parts=0.2,table=0.2',
    });
    expect(tab).toMatch(/^[a-z0-9.~+_-]+$/);
    expect(tab).toContain('parts~0.2+table~0.2');
  });

  it('gives every case of every grid its own key', () => {
    for (const g of ['quick', 'core', 'full', 'unseen'] as const) {
      const cases = matrixGrid(g);
      expect(new Set(cases.map(matrixCaseKey)).size, g).toBe(cases.length);
    }
  });
});

describe('detection matrix: grids', () => {
  it('full is the issue grid: 2 × 2 × 2 × 6 × 2 × 5 × 3 backdoors + 20 clean + 4 flips + 4', () => {
    const full = matrixGrid('full');
    expect(full.filter((c) => c.attack === 'backdoor')).toHaveLength(2 * 2 * 2 * 6 * 2 * 5 * 3);
    expect(full.filter((c) => c.attack === 'clean')).toHaveLength(20);
    expect(full.filter((c) => c.attack === 'label-flip')).toHaveLength(4);
    expect(
      full.filter((c) => c.attack.endsWith('-backdoor') && c.attack !== 'backdoor'),
    ).toHaveLength(4);
  });

  it('unseen holds out what the full grid fixes: other targets, seeds and trigger places', () => {
    const full = new Set(matrixGrid('full').map(matrixCaseKey));
    const unseen = matrixGrid('unseen');
    expect(unseen.filter((c) => full.has(matrixCaseKey(c)))).toEqual([]);
    const bd = unseen.filter((c) => c.attack === 'backdoor');
    expect(bd.every((c) => c.target !== 0 && c.seed > 3)).toBe(true);
    expect(bd.some((c) => c.trigger?.includes('@random'))).toBe(true);
    expect(new Set(unseen.map((c) => `${c.dataset}/${c.model}`)).size).toBe(4);
    expect(unseen.filter((c) => c.attack === 'clean' && c.model === 'mlp').length).toBeGreaterThan(
      0,
    );
  });

  it('core covers every trigger, both datasets and modes, low and high rates, clean, flips, text, tabular', () => {
    const core = matrixGrid('core');
    const bd = core.filter((c) => c.attack === 'backdoor');
    expect(new Set(bd.map((c) => c.trigger))).toEqual(new Set(MATRIX_IMAGE_TRIGGERS));
    expect(new Set(bd.map((c) => c.dataset))).toEqual(new Set(['mnist', 'fashion-mnist']));
    expect(new Set(bd.map((c) => c.mode))).toEqual(new Set(['all-to-one', 'all-to-all']));
    expect(Math.min(...bd.map((c) => c.rate!))).toBeLessThanOrEqual(0.01);
    expect(Math.max(...bd.map((c) => c.rate!))).toBeGreaterThanOrEqual(0.33);
    for (const a of ['clean', 'label-flip', 'text-backdoor', 'tabular-backdoor']) {
      expect(
        core.some((c) => c.attack === a),
        a,
      ).toBe(true);
    }
  });

  it('measures all-to-one rates on the target class, the others on the training set', () => {
    expect(matrixRateDefinition(base)).toBe('of-target-class');
    expect(matrixRateDefinition({ ...base, mode: 'all-to-all' })).toBe('of-training-set');
    expect(matrixRateDefinition({ ...base, attack: 'label-flip', mode: 'random' })).toBe(
      'of-training-set',
    );
  });
});

describe('detection matrix: table and targets', () => {
  it('writes one row per case with a column per detector', () => {
    const rows = [
      { ...row(base), separability: { auc: 1, f1: 0.97, dims: 32, poisoned: 30, clean: 3000 } },
      row(
        { ...base, attack: 'clean', trigger: undefined, mode: undefined, rate: undefined },
        {
          asr: null,
          f1: null,
          verdict: null,
          detectors: {
            ac: { precision: null, recall: null, f1: null, flagged: 0, seconds: 1 },
            'a|b': {
              precision: null,
              recall: null,
              f1: null,
              flagged: 0,
              seconds: 1,
              skipped: 'needs retraining',
            },
          },
        },
      ),
    ];
    const md = matrixTable(rows).trim().split('\n');
    expect(md).toHaveLength(4);
    expect(md[0]).toContain('| F1 ac | F1 a\\|b | default F1 |');
    expect(md[0]).toContain('| verdict | separable F1 |');
    expect(md[2]).toContain(
      '| mnist | cnn | 2 | pattern | all-to-one | 10% | 1 | 10 | 0.90 | 0.98 | 1.00 | – | 1.00 | 10 | FAIL | 0.97 |',
    );
    expect(md[3]).toContain('| clean |');
    expect(md[3]).toContain('| n/a | – |');
  });

  it('judges each target with its figures', () => {
    const fm = { ...base, dataset: 'fashion-mnist' };
    const clean = {
      ...base,
      attack: 'clean' as const,
      trigger: undefined,
      mode: undefined,
      rate: undefined,
    };
    const rows = [
      row(base, { f1: 0.96 }),
      row(fm, { f1: 0.91, verdict: 'PASS' }),
      row({ ...base, rate: 0.005 }, { f1: 0.2, asr: 0.3 }), // attack fails: not judged
      row(clean, { asr: null, f1: null, flagged: 0, verdict: 'pass' }),
      row({ ...clean, seed: 2 }, { asr: null, f1: null, flagged: 500, verdict: 'REVIEW' }),
    ];
    const t = matrixTargets(rows);
    expect(t[0]).toMatchObject({ met: true, detail: '2 of 2 met' });
    expect(t[1]!.met).toBe(false);
    expect(t[1]!.detail).toContain('fashion-mnist');
    expect(t[2]!.met).toBe(false);
    expect(t[2]!.detail).toContain('mnist: 1 of 2 runs'); // the library's lowercase 'pass' counts
    expect(t[3]!.met).toBeNull();
    expect(t[5]).toMatchObject({ met: true });
    expect(matrixTargets([row(base, { f1: 0.94 })])[0]!.met).toBe(false);
    expect(matrixTargetsMarkdown(t)).toContain('- **not met**: image backdoors');
  });
});

describe('fraudLikeCsv', () => {
  it('is seeded, has its header and both classes, fraud the minority', () => {
    const a = fraudLikeCsv(2000, 7);
    expect(fraudLikeCsv(2000, 7)).toBe(a);
    expect(fraudLikeCsv(2000, 8)).not.toBe(a);
    const lines = a.trim().split('\n');
    expect(lines[0]).toBe(FRAUD_COLUMNS.join(','));
    expect(lines).toHaveLength(2001);
    const fraud = lines.slice(1).filter((l) => l.endsWith(',fraud')).length;
    expect(fraud).toBeGreaterThan(40);
    expect(fraud).toBeLessThan(600);
  });
});
