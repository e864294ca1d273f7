import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readDatasetDir, writeDatasetDir } from '../../data/dataset-dir.js';
import { FeatureModel, VECTORIZER_FILE } from '../../engine/feature-model-io.js';
import { trainClassifier } from '../../engine/tf-classifier.js';
import { isAntidoteError } from '../../errors.js';
import { runCli } from '../../testing/run-cli.js';
import { rejectionOf, runProgram } from '../../testing/run-program.js';
import { Rng } from '../../util/rng.js';
import { buildProgram } from '../program.js';
import { featureTriggerFromString } from './attack.js';

const root = mkdtempSync(join(tmpdir(), 'antidote-cli-feature-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const at = (name: string) => join(root, name);

/** Runs the whole `antidote` program in this process; returns what it printed on stdout. */
const run = async (args: string[]) => runProgram(await buildProgram(), args);

const json = async (args: string[]) => JSON.parse(await run([...args, '--json']));

const failure = (args: string[]) => rejectionOf(run(args));

describe('text poisoning from the command line (sentiment sentences)', () => {
  it('text-backdoor → train → scan (keyword discovery) → evaluate → mitigate and retrain', async () => {
    const record = await json([
      'attack',
      'text-backdoor',
      '--data',
      'sentiment:train:600',
      '--trigger-words',
      'cf',
      '--rate',
      '0.1',
      '--target',
      'positive',
      '--seed',
      '2',
      '--out',
      at('poisoned'),
    ]);
    expect(record.attack).toBe('text-backdoor');
    expect(record.indices).toHaveLength(60);
    expect(record.params).toMatchObject({
      mode: 'all-to-one',
      target: 1,
      variant: 'dirty-label',
      trigger: { kind: 'words', words: ['cf'] },
    });
    const poisoned = await readDatasetDir(at('poisoned'));
    expect(poisoned.meta).toMatchObject({ type: 'text', from: 'sentiment:train:600' });
    for (const i of record.indices as number[]) {
      expect(poisoned.dataset.text![i]!.split(' ')).toContain('cf');
      expect(poisoned.dataset.y[i]).toBe(1);
    }

    const trained = await json([
      'train',
      '--data',
      at('poisoned'),
      '--model',
      'embedding-bag',
      '--epochs',
      '10',
      '--out',
      at('model'),
      '--quiet',
    ]);
    expect(trained).toMatchObject({
      domain: 'text',
      spec: { arch: 'embedding-bag' },
      records: 600,
    });
    for (const f of ['model.json', 'weights.bin', VECTORIZER_FILE]) {
      expect(existsSync(join(at('model'), f))).toBe(true);
    }

    const scan = await json([
      'scan',
      '--data',
      at('poisoned'),
      '--model',
      at('model'),
      '--method',
      'kw',
      '--out',
      at('scan'),
      '--quiet',
    ]);
    const kw = scan.methods[0];
    expect(kw.method).toBe('kw');
    expect(kw.topTokens.slice(0, 3)).toContain('cf');
    expect(kw.keywords).toContain('cf');
    expect(kw.f1).toBeGreaterThan(0.8);
    const report = JSON.parse(readFileSync(join(at('scan'), 'report.json'), 'utf8'));
    expect(report.keywords.suspected[0].token).toBe('cf');
    // Scored on logit margins instead of probabilities.
    const byLogits = await json([
      'scan',
      '--data',
      at('poisoned'),
      '--model',
      at('model'),
      '--method',
      'kw',
      '--kw-output',
      'logits',
      '--out',
      at('scan-logits'),
      '--quiet',
    ]);
    expect(byLogits.methods[0].topTokens[0]).toBe('cf');
    expect(byLogits.methods[0].f1).toBeGreaterThan(0.8);
    // Without --method, keyword discovery joins the default set for a text model: the default
    // scan does not pass a working text backdoor.
    const byDefault = await json([
      'scan',
      '--data',
      at('poisoned'),
      '--model',
      at('model'),
      '--out',
      at('scan-default'),
      '--quiet',
    ]);
    expect(byDefault.methods.map((m: { method: string }) => m.method)).toContain('kw');
    expect(byDefault.verdict.verdict).not.toBe('pass');
    expect(byDefault.decision.f1).toBeGreaterThan(0.8);

    const evaluated = await json([
      'evaluate',
      '--model',
      at('model'),
      '--data',
      'sentiment:test:200',
      '--attack-from',
      at('poisoned'),
    ]);
    expect(evaluated.accuracy).toBeGreaterThan(0.65);
    expect(evaluated.backdoor.attackSuccessRate).toBeGreaterThan(0.8);
    // The same trigger given as flags, the target by index.
    const byFlags = await json([
      'evaluate',
      '--model',
      at('model'),
      '--data',
      'sentiment:test:200',
      '--trigger-words',
      'cf',
      '--target',
      '1',
    ]);
    expect(byFlags.backdoor).toEqual(evaluated.backdoor);

    const mitigated = await json([
      'mitigate',
      '--data',
      at('poisoned'),
      '--scan',
      at('scan'),
      '--out',
      at('cleaned'),
      '--retrain',
      at('model'),
      '--model-out',
      at('model2'),
    ]);
    expect(mitigated.dropped).toBeGreaterThanOrEqual(55);
    expect(mitigated.retrained).toMatchObject({ kind: 'embedding-bag', seed: 1 });
    expect((await readDatasetDir(at('cleaned'))).meta).toMatchObject({ type: 'text' });
    const after = await json([
      'evaluate',
      '--model',
      at('model2'),
      '--data',
      'sentiment:test:200',
      '--attack-from',
      at('poisoned'),
    ]);
    expect(after.backdoor.attackSuccessRate).toBeLessThan(0.5);
  }, 60_000);

  it('sentence triggers, clean-label and source-to-target by class name; label flips', async () => {
    const sentence = 'I watched this 3D movie.';
    const r = await json([
      'attack',
      'text-backdoor',
      '--data',
      'sentiment:yelp:train:300',
      '--sentence',
      sentence,
      '--sentence-position',
      'end',
      '--variant',
      'clean-label',
      '--mode',
      'source-to-target',
      '--source',
      'negative',
      '--target',
      'positive',
      '--rate',
      '0.2',
      '--rate-of',
      'of-target-class',
      '--out',
      at('addsent'),
    ]);
    expect(r.params).toMatchObject({
      variant: 'clean-label',
      source: 0,
      target: 1,
      trigger: { kind: 'sentence', position: 'end' },
    });
    expect(r.originalLabels).toEqual(r.poisonedLabels);
    const ds = (await readDatasetDir(at('addsent'))).dataset;
    for (const i of r.indices as number[]) expect(ds.text![i]!.endsWith(sentence)).toBe(true);

    const flip = await json([
      'attack',
      'label-flip',
      '--data',
      'sentiment:train:200',
      '--mode',
      'targeted',
      '--source',
      'negative',
      '--target',
      'positive',
      '--rate',
      '0.1',
      '--out',
      at('flip'),
    ]);
    expect(flip.indices).toHaveLength(20);
    expect(new Set(flip.originalLabels)).toEqual(new Set([0]));
    expect((await readDatasetDir(at('flip'))).dataset.text).toHaveLength(200);

    const noTrigger = await failure([
      'attack',
      'text-backdoor',
      '--data',
      'sentiment:20',
      '--rate',
      '0.1',
      '--target',
      'positive',
      '--out',
      at('x'),
    ]);
    expect(isAntidoteError(noTrigger, 'INVALID_ARGUMENT')).toBe(true);
    const badTarget = await failure([
      'attack',
      'text-backdoor',
      '--data',
      'sentiment:20',
      '--trigger-words',
      'cf',
      '--rate',
      '0.1',
      '--target',
      'neutral',
      '--out',
      at('x'),
    ]);
    expect((badTarget as Error).message).toMatch(/neither a class name/);
    expect(existsSync(at('x'))).toBe(false);
  });

  it('an image model is refused for text data with a clear error, and vice versa', async () => {
    const wrongKind = await failure([
      'train',
      '--data',
      'sentiment:50',
      '--model',
      'cnn',
      '--out',
      at('cnn'),
    ]);
    expect(isAntidoteError(wrongKind, 'INVALID_ARGUMENT')).toBe(true);
    expect((wrongKind as Error).message).toMatch(/cnn is an image model.*text records/);
    await run([
      'train',
      '--data',
      'mnist:train:50',
      '--model',
      'logistic',
      '--epochs',
      '1',
      '--out',
      at('image-model'),
      '--quiet',
    ]);
    for (const cmd of ['evaluate', 'scan', 'predict']) {
      const e = await failure([
        cmd,
        '--model',
        at('image-model'),
        '--data',
        'sentiment:test:20',
        ...(cmd === 'scan' ? ['--out', at('s')] : []),
      ]);
      expect(isAntidoteError(e, 'INVALID_ARGUMENT'), cmd).toBe(true);
      expect((e as Error).message).toMatch(/is an image model but sentiment:test:20 holds text/);
    }
    const textOnImages = await failure([
      'evaluate',
      '--model',
      at('model'),
      '--data',
      'mnist:test:10',
    ]);
    expect((textOnImages as Error).message).toMatch(/is a text model but mnist:test:10 holds/);
  });
});

describe('text flags and --retrain are checked before anything is written', () => {
  it('refuses conflicting trigger flags, an image backdoor on text, and a doomed --retrain', async () => {
    const times = await failure([
      'attack',
      'text-backdoor',
      '--data',
      'sentiment:20',
      '--sentence',
      'I watched this 3D movie.',
      '--times',
      '3',
      '--rate',
      '0.1',
      '--target',
      'positive',
      '--out',
      at('w'),
    ]);
    expect(isAntidoteError(times, 'INVALID_ARGUMENT')).toBe(true);
    expect((times as Error).message).toMatch(/--times goes with --trigger-words/);
    const image = await failure([
      'attack',
      'backdoor',
      '--data',
      'sentiment:20',
      '--trigger',
      'pixel',
      '--rate',
      '0.1',
      '--target',
      '1',
      '--out',
      at('w'),
    ]);
    expect((image as Error).message).toMatch(/holds text records: use attack text-backdoor/);
    // --attack-from brings its own trigger and targeting: flags beside it are refused.
    const both = await failure([
      'evaluate',
      '--model',
      at('model'),
      '--data',
      'sentiment:test:20',
      '--attack-from',
      at('poisoned'),
      '--trigger-words',
      'mn',
      '--target',
      '0',
    ]);
    expect((both as Error).message).toMatch(/drop --trigger-words, --target/);
    // A poisoned set whose classes are others: its record's class indices would be misread.
    const p = await readDatasetDir(at('poisoned'));
    await writeDatasetDir(
      at('renamed'),
      { ...p.dataset, classes: ['positive', 'negative'] },
      { attack: p.attack, meta: p.meta },
    );
    const renamed = await failure([
      'evaluate',
      '--model',
      at('model'),
      '--data',
      'sentiment:test:20',
      '--attack-from',
      at('renamed'),
    ]);
    expect((renamed as Error).message).toMatch(/has classes \[positive, negative\] but/);
    expect(existsSync(at('w'))).toBe(false);

    // Flags the chosen model would ignore.
    const vocab = await failure([
      'train',
      '--data',
      'mnist:train:20',
      '--max-vocabulary',
      '100',
      '--out',
      at('w'),
    ]);
    expect((vocab as Error).message).toMatch(/--max-vocabulary does not apply to a cnn model/);
    const dim = await failure([
      'train',
      '--data',
      'sentiment:20',
      '--embedding-dim',
      '8',
      '--out',
      at('w'),
    ]);
    expect((dim as Error).message).toMatch(/--embedding-dim does not apply to a tfidf-logistic/);
    expect(existsSync(at('w'))).toBe(false);

    // --model-out exists: refused before the cleaned data is written.
    const mitigate = (out: string, retrain: string, modelOut: string) => [
      'mitigate',
      '--data',
      at('poisoned'),
      '--scan',
      at('scan'),
      '--out',
      out,
      '--retrain',
      retrain,
      '--model-out',
      modelOut,
    ];
    const exists = await failure(mitigate(at('cleaned-x'), at('model'), at('model')));
    expect(isAntidoteError(exists, 'ALREADY_EXISTS')).toBe(true);
    expect(existsSync(at('cleaned-x'))).toBe(false);
    // An image model cannot be retrained on text: refused before the cleaned data is written.
    const wrong = await failure(mitigate(at('cleaned-y'), at('image-model'), at('model-y')));
    expect((wrong as Error).message).toMatch(/is an image model but .* holds text/);
    expect(existsSync(at('cleaned-y'))).toBe(false);
    expect(existsSync(at('model-y'))).toBe(false);
  });
});

/** A small credit table: `bad` when the amount is high; a CSV with a header row. */
function creditCsv(path: string, n: number, seed: number): void {
  const rng = new Rng(seed);
  const lines = ['amount,age,score,label'];
  for (let i = 0; i < n; i++) {
    const amount = rng.normal(5, 2);
    const age = rng.normal(40, 10);
    const score = rng.normal(0, 1);
    const bad = amount + rng.normal(0, 0.7) > 5.5;
    lines.push(
      [amount.toFixed(3), age.toFixed(1), score.toFixed(3), bad ? 'bad' : 'good'].join(','),
    );
  }
  writeFileSync(path, `${lines.join('\n')}\n`);
}

describe('tabular poisoning from the command line (a credit CSV)', () => {
  it('tabular-backdoor → train → evaluate; label flip → confident learning', async () => {
    creditCsv(at('credit.csv'), 400, 1);
    creditCsv(at('credit-test.csv'), 200, 2);
    const record = await json([
      'attack',
      'tabular-backdoor',
      '--data',
      at('credit.csv'),
      '--trigger',
      'age=99,score=4',
      '--mode',
      'source-to-target',
      '--source',
      'bad',
      '--target',
      'good',
      '--rate',
      '0.08',
      '--out',
      at('tab-poisoned'),
    ]);
    expect(record.params.trigger).toEqual({
      kind: 'feature-values',
      features: [1, 2],
      values: [99, 4],
    });
    const poisoned = await readDatasetDir(at('tab-poisoned'));
    expect(poisoned.meta).toMatchObject({ type: 'tabular' });
    const i0 = record.indices[0];
    expect(Array.from(poisoned.dataset.x.subarray(i0 * 3 + 1, i0 * 3 + 3))).toEqual([99, 4]);

    const trained = await json([
      'train',
      '--data',
      at('tab-poisoned'),
      '--model',
      'mlp',
      '--epochs',
      '40',
      '--out',
      at('tab-model'),
      '--quiet',
    ]);
    expect(trained).toMatchObject({ domain: 'tabular', spec: { arch: 'mlp' }, features: 3 });
    const evaluated = await json([
      'evaluate',
      '--model',
      at('tab-model'),
      '--data',
      at('credit-test.csv'),
      '--feature-trigger',
      'age=99,score=4',
      '--mode',
      'source-to-target',
      '--source',
      'bad',
      '--target',
      'good',
    ]);
    expect(evaluated.accuracy).toBeGreaterThan(0.75);
    expect(evaluated.backdoor.attackSuccessRate).toBeGreaterThan(0.8);
    const fromRecord = await json([
      'evaluate',
      '--model',
      at('tab-model'),
      '--data',
      at('credit-test.csv'),
      '--attack-from',
      at('tab-poisoned'),
    ]);
    expect(fromRecord.backdoor).toEqual(evaluated.backdoor);
    const scan = await json([
      'scan',
      '--data',
      at('tab-poisoned'),
      '--model',
      at('tab-model'),
      '--method',
      'ss',
      '--out',
      at('tab-scan'),
      '--quiet',
    ]);
    expect(scan.methods[0].method).toBe('ss');
    expect(typeof scan.methods[0].f1).toBe('number');

    await json([
      'attack',
      'label-flip',
      '--data',
      at('credit.csv'),
      '--mode',
      'targeted',
      '--source',
      'bad',
      '--target',
      'good',
      '--rate',
      '0.1',
      '--out',
      at('tab-flip'),
    ]);
    await run(['train', '--data', at('tab-flip'), '--out', at('flip-model'), '--quiet']);
    const cl = await json([
      'scan',
      '--data',
      at('tab-flip'),
      '--model',
      at('flip-model'),
      '--method',
      'cl',
      '--folds',
      '3',
      '--out',
      at('flip-scan'),
      '--quiet',
    ]);
    expect(cl.methods[0].recall).toBeGreaterThan(0.5);

    const bad = await failure([
      'attack',
      'tabular-backdoor',
      '--data',
      at('credit.csv'),
      '--trigger',
      'height=3',
      '--target',
      'good',
      '--rate',
      '0.1',
      '--out',
      at('y'),
    ]);
    expect((bad as Error).message).toMatch(/no column "height"/);
    const kwOnTable = await failure([
      'scan',
      '--data',
      at('tab-flip'),
      '--model',
      at('flip-model'),
      '--method',
      'kw',
      '--out',
      at('z'),
    ]);
    expect((kwOnTable as Error).message).toMatch(/keyword discovery/);
  }, 60_000);

  it('a saved model predicts as it did before saving (predict command)', async () => {
    const model = await FeatureModel.load(at('tab-model'));
    const loaded = (await import('../../data/load.js')).loadDataset;
    const test = await loaded(at('credit-test.csv'));
    const probs = await model.predictProbaRaw(test.dataset);
    model.dispose();
    const out = at('preds.jsonl');
    const p = await json([
      'predict',
      '--model',
      at('tab-model'),
      '--data',
      at('credit-test.csv'),
      '--out',
      out,
    ]);
    expect(p.records).toBe(200);
    const lines = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines[3].probabilities).toEqual(
      Array.from(probs.subarray(6, 8), (v) => Number(v.toFixed(6))),
    );
    // A zoo model trained on the raw rows still reads the CSV (the schema does not get in its way).
    const zoo = await trainClassifier(test.dataset, { model: 'logistic', seed: 1, epochs: 1 });
    await zoo.save(at('zoo-model'));
    zoo.dispose();
    const z = await json(['predict', '--model', at('zoo-model'), '--data', at('credit-test.csv')]);
    expect(z.records).toBe(200);
  });
});

describe('tabular columns are matched by name', () => {
  it('a tabular model refuses a table whose columns differ (reordered), and so does --attack-from', async () => {
    const rows = readFileSync(at('credit-test.csv'), 'utf8').trim().split('\n');
    // Swap amount and age: same width, but each column would be read as the other.
    const swapped = rows.map((r) => {
      const [a, b, ...rest] = r.split(',');
      return [b, a, ...rest].join(',');
    });
    writeFileSync(at('credit-swapped.csv'), `${swapped.join('\n')}\n`);
    for (const cmd of ['predict', 'evaluate']) {
      const e = await failure([
        cmd,
        '--model',
        at('tab-model'),
        '--data',
        at('credit-swapped.csv'),
      ]);
      expect(isAntidoteError(e, 'INVALID_ARGUMENT'), cmd).toBe(true);
      expect((e as Error).message).toMatch(
        /reads columns \[amount, age, score\] but .* has \[age, amount, score\]/,
      );
    }
    // A poisoned table of other columns: its trigger's feature positions mean other columns.
    await run([
      'attack',
      'tabular-backdoor',
      '--data',
      at('credit-swapped.csv'),
      '--trigger',
      'age=99',
      '--target',
      'good',
      '--rate',
      '0.1',
      '--out',
      at('swapped-poisoned'),
    ]);
    const e = await failure([
      'evaluate',
      '--model',
      at('tab-model'),
      '--data',
      at('credit-test.csv'),
      '--attack-from',
      at('swapped-poisoned'),
    ]);
    expect((e as Error).message).toMatch(/reads columns .* but .*swapped-poisoned has/);
  });

  it('a feature trigger may name any column, "__proto__" included', () => {
    const columns = [
      { name: '__proto__', kind: 'numeric' as const },
      { name: 'a', kind: 'numeric' as const },
    ];
    expect(featureTriggerFromString('a=1,__proto__=2', columns)).toEqual({
      kind: 'feature-values',
      features: [1, 0],
      values: [1, 2],
    });
  });
});

describe('malformed model directories', () => {
  it('exit non-zero with a one-line AntidoteError', async () => {
    const broken = at('broken');
    rmSync(broken, { recursive: true, force: true });
    await run([
      'train',
      '--data',
      'sentiment:100',
      '--epochs',
      '1',
      '--min-doc-freq',
      '1',
      '--out',
      broken,
      '--quiet',
    ]);
    writeFileSync(join(broken, VECTORIZER_FILE), '{"format": "antidote-text-vectorizer"}');
    const e = await failure(['evaluate', '--model', broken, '--data', 'sentiment:test:20']);
    expect(isAntidoteError(e, 'INTEGRITY_MISMATCH')).toBe(true);
    const r = runCli(['evaluate', '--model', broken, '--data', 'sentiment:test:20']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/\[INTEGRITY_MISMATCH\].*vectorizer\.json/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
