import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDatasetDir, writeDatasetDir } from '../../data/dataset-dir.js';
import { initEngine } from '../../engine/backend.js';
import { trainClassifier } from '../../engine/tf-classifier.js';
import { isAntidoteError } from '../../errors.js';
import { sweep } from '../../eval/sweep.js';
import { createManifest, manifestBytes } from '../../integrity/manifest.js';
import { connectionOf } from '../../jobs/connection.js';
import { cachedDatasetOutline, storeDatasetOutline } from '../../jobs/dataset-outline.js';
import { cachedRangeDigests, cacheSubject } from '../../jobs/digest-cache.js';
import { recordRangeDigest } from '../../jobs/digests.js';
import { dataRef } from '../../jobs/job-data.js';
import { manifestOnQueue } from '../../jobs/manifest-jobs.js';
import { ScanShardResultSchema } from '../../jobs/payloads.js';
import { runJobs } from '../../jobs/run-jobs.js';
import { sweepOnQueue } from '../../jobs/sweep-jobs.js';
import { type JobWorker, startWorker, type WorkerEvent } from '../../jobs/worker.js';
import { rowImages } from '../../testing/knn.js';
import { loadedModulesProbe, probedModules } from '../../testing/loaded-modules.js';
import { rejectionOf, runProgram } from '../../testing/run-program.js';
import { testServiceUrl } from '../../testing/services.js';
import { syntheticDataset, syntheticReps } from '../../testing/synthetic.js';
import { dataLoadOptions } from '../data-arg.js';
import { datasetRecords, registerManifestCommand } from './manifest.js';
import { registerScanCommand } from './scan.js';
import { registerSweepCommand } from './sweep.js';

const url = testServiceUrl('redis');
const root = mkdtempSync(join(tmpdir(), 'antidote-jobs-'));
const CLI = join(import.meta.dirname, '..', '..', '..', 'dist', 'cli', 'main.js');

/** A fresh queue name (several test files share the Redis server). */
const queueName = () => `antidote-test-${randomBytes(6).toString('hex')}`;

/** Empties and removes a test queue. */
async function obliterate(name: string): Promise<void> {
  const q = new Queue(name, { connection: connectionOf(url!) });
  try {
    await q.obliterate({ force: true });
  } finally {
    await q.close();
  }
}

/** The jobs the in-process workers finished, by kind. */
const finished = new Map<string, number>();
/**
 * The distinct jobs they finished, by kind: a job that holds its worker's event loop past the
 * short test lock is handed to the other worker too, which finishes it again (same result).
 */
const finishedJobs = new Map<string, Set<string>>();

/** Starts `n` in-process workers on queue `name` (short locks: a dead worker is seen quickly). */
async function workers(name: string, n: number): Promise<JobWorker[]> {
  finished.clear();
  finishedJobs.clear();
  const onEvent = (e: WorkerEvent) => {
    if (e.type !== 'done') return;
    finished.set(e.kind, (finished.get(e.kind) ?? 0) + 1);
    finishedJobs.set(e.kind, (finishedJobs.get(e.kind) ?? new Set()).add(e.job));
  };
  return Promise.all(
    Array.from({ length: n }, () =>
      startWorker({ url: url!, name }, { lockDuration: 2000, onEvent }),
    ),
  );
}

/** Runs `fn` with `n` in-process workers on a fresh queue, then stops them and removes it. */
async function onQueue(n: number, fn: (name: string) => Promise<void>): Promise<void> {
  const name = queueName();
  const ws = await workers(name, n);
  try {
    await fn(name);
  } finally {
    await Promise.all(ws.map((w) => w.close()));
    await obliterate(name);
  }
}

function program(): Command {
  const p = new Command('antidote').exitOverride();
  registerScanCommand(p);
  registerSweepCommand(p);
  registerManifestCommand(p);
  return p;
}

describe.skipIf(!url)('distributed jobs on BullMQ (Redis)', () => {
  const train = rowImages(240, 3, 1);
  const test = rowImages(60, 3, 2);
  const spec = join(root, 'spec.json');

  beforeAll(async () => {
    await initEngine();
    await writeDatasetDir(join(root, 'train'), train);
    await writeDatasetDir(join(root, 'test'), test);
    await writeFile(
      spec,
      JSON.stringify({
        name: 'tiny',
        data: { train: join(root, 'train'), test: join(root, 'test'), trainLimit: 210 },
        attack: { attack: 'backdoor', trigger: { kind: 'pattern' }, mode: 'all-to-one', target: 0 },
        victim: { model: 'logistic', epochs: 3, batchSize: 16, learningRate: 0.05 },
        rates: [0, 0.1],
        seeds: [1, 2],
      }),
    );
  }, 60_000);
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('sweep --queue writes the same sweep.csv and results as sweep, over 2 workers', async () => {
    await onQueue(2, async (name) => {
      const local = join(root, 'sweep-local');
      const dist = join(root, 'sweep-queue');
      await runProgram(program(), ['sweep', spec, '--out', local, '--json']);
      await runProgram(program(), [
        'sweep',
        spec,
        '--out',
        dist,
        '--json',
        '--queue',
        url!,
        '--queue-name',
        name,
      ]);
      const csv = (d: string) => readFile(join(d, 'sweep.csv'), 'utf8');
      expect(await csv(dist)).toBe(await csv(local));
      // sweep.json is byte-identical but for the training times.
      const untimed = async (d: string) =>
        (await readFile(join(d, 'sweep.json'), 'utf8')).replace(
          /"victimTraining": [0-9.e-]+/g,
          '"victimTraining": 0',
        );
      expect(await untimed(dist)).toBe(await untimed(local));
      expect((await csv(local)).split('\r\n')).toHaveLength(6);
      expect(finished.get('sweep-run')).toBe(4);
    });
  }, 180_000);

  it('scan --queue flags the same records, byte for byte, as scan', async () => {
    // 2,080 records: three shards of the 1,024-record forward-pass batches (1024, 1024, 32).
    const s = syntheticReps({ classes: 4, perClass: 520, dim: 16, poison: 40, seed: 2 });
    const ds = { ...syntheticDataset(s), shape: [s.y.length, 4, 4, 1] };
    const data = join(root, 'scan-data');
    const modelDir = join(root, 'scan-model');
    await writeDatasetDir(data, ds);
    const model = await trainClassifier(ds, { model: 'mlp', seed: 1, epochs: 3 });
    await model.save(modelDir);
    model.dispose();
    await onQueue(2, async (name) => {
      const args = ['scan', '--data', data, '--model', modelDir, '--json'];
      const local = join(root, 'scan-local');
      const dist = join(root, 'scan-queue');
      await runProgram(program(), [...args, '--out', local]);
      await runProgram(program(), [...args, '--out', dist, '--queue', url!, '--queue-name', name]);
      for (const f of ['report.json', 'suspicious.csv']) {
        expect(await readFile(join(dist, f), 'utf8')).toBe(await readFile(join(local, f), 'utf8'));
      }
      expect(finished.get('scan-representations')).toBe(3);
      // The shards' digests are cached by the data files' identity: the next scan of these files
      // (below) sends its shards before it reads the data, and still gives the local report.
      const subject = await cacheSubject(data, { load: dataLoadOptions({}) });
      const firstDigests = (await cachedRangeDigests(subject!))?.digests;
      expect(await cachedRangeDigests(subject!)).toMatchObject({
        records: ds.y.length,
        shard: 1024,
      });
      // The default detectors' per-class phase ran on the workers: per class, one job for tt
      // (it runs the model) and one for ac and ss.
      expect(finishedJobs.get('scan-classes')?.size).toBe(8);
      const report = JSON.parse(await readFile(join(local, 'report.json'), 'utf8'));
      expect(report.decision.flaggedIds.length).toBeGreaterThan(0);
      // Trigger transfer (tt, images) ran its per-class phase on the workers too: every class
      // searched for candidates and measured their transfer there.
      expect(report.decision.detectors).toEqual(['ac', 'ss', 'ln', 'tt']);
      expect(
        report.methods.tt.perClass.filter(
          (f: { stats: { candidateSizes?: number[] } }) => f.stats.candidateSizes !== undefined,
        ).length,
      ).toBeGreaterThan(0);
      // A detector without a per-class phase (spectre) beside ac in plain PCA: the coordinator
      // reads the workers' activations for it, the workers run ac's classes; same report.
      /** Scans with `extra` flags, locally and on the queue: the same report, byte for byte. */
      const sameAsLocal = async (extra: string[], suffix: string) => {
        await runProgram(program(), [...args, ...extra, '--out', `${local}-${suffix}`]);
        finishedJobs.clear();
        const queue = ['--queue', url!, '--queue-name', name];
        await runProgram(program(), [...args, ...extra, '--out', `${dist}-${suffix}`, ...queue]);
        for (const f of ['report.json', 'suspicious.csv']) {
          expect(await readFile(join(`${dist}-${suffix}`, f), 'utf8')).toBe(
            await readFile(join(`${local}-${suffix}`, f), 'utf8'),
          );
        }
      };
      await sameAsLocal(['--method', 'ac,spectre', '--reduce', 'pca'], 'mixed');
      expect(finishedJobs.get('scan-classes')?.size).toBe(4);
      // Through the CLI: with the data's and the model's digests cached, the shards go out
      // before the scan command's modules load (scan-early.ts); the same report.
      const cliScan = (out: string, node: readonly string[] = []) =>
        new Promise<number | null>((resolve) => {
          const p = spawn(
            process.execPath,
            [...node, CLI, ...args, '--out', out, '--queue', url!, '--queue-name', name, '--quiet'],
            { stdio: 'ignore' },
          );
          p.on('exit', resolve);
        });
      finishedJobs.clear();
      expect(await cliScan(`${dist}-cli`)).toBe(0);
      for (const f of ['report.json', 'suspicious.csv']) {
        expect(await readFile(join(`${dist}-cli`, f), 'utf8')).toBe(
          await readFile(join(local, f), 'utf8'),
        );
      }
      expect(finishedJobs.get('scan-classes')?.size).toBe(8);
      // That scan's coordinator read the data's outline (kept by the first queued scan: labels,
      // ids, range), not its records, which only the workers read: a class renamed in the
      // outline shows in the report.
      const outline = (await cachedDatasetOutline(subject!))!;
      expect(outline).toMatchObject({ shape: ds.shape, classes: ds.classes });
      expect(outline.y).toEqual(ds.y);
      const renamed = outline.classes.map((c) => `${c}*`);
      expect(await storeDatasetOutline(subject!, { ...outline, classes: renamed })).toBe(true);
      // Nor does it load the engine (TF.js), whose modules cost the workers a core's time while
      // they run: the model is opened from its files, and the workers run it.
      const probe = join(root, 'loaded-modules.json');
      expect(await cliScan(`${dist}-outline`, loadedModulesProbe(probe, '@tensorflow'))).toBe(0);
      expect(await probedModules(probe)).toEqual([]);
      const fromOutline = JSON.parse(
        await readFile(join(`${dist}-outline`, 'report.json'), 'utf8'),
      );
      expect(
        fromOutline.methods.ac.perClass.map((f: { className: string }) => f.className),
      ).toEqual(renamed);
      expect(fromOutline.decision.flaggedIds).toEqual(report.decision.flaggedIds);
      // The data rewritten (other records, same size): the cached digests no longer apply (the
      // files' identity changed), so the scan digests the new records; still the local report.
      const moved = { ...ds, x: ds.x.map((v, i) => (i % 7 === 0 ? v + 0.25 : v)) };
      await rm(data, { recursive: true, force: true });
      await writeDatasetDir(data, moved);
      await sameAsLocal(['--method', 'ac,ss'], 'changed');
      // The cache now holds the new records' digests (stale ones would have made the workers
      // refuse their shards with INTEGRITY_MISMATCH).
      const now = await cachedRangeDigests(
        (await cacheSubject(data, { load: dataLoadOptions({}) }))!,
      );
      expect(now?.digests).toHaveLength(3);
      expect(now?.digests[0]).not.toBe(firstDigests?.[0]);
      // No work files are left beside the report.
      expect((await readdir(root)).filter((f) => f.includes('.shards-'))).toEqual([]);
    });
  }, 180_000);

  it('manifest create --queue writes the manifest createManifest does (sorted and unsorted ids)', async () => {
    await onQueue(2, async (name) => {
      // rowImages ids (r0, r1, …, r10, …) are not in id order; padded ids are.
      const padded = {
        ...train,
        ids: train.ids.map((_, i) => `rec-${String(i).padStart(5, '0')}`),
      };
      for (const [k, ds] of [train, padded].entries()) {
        const dir = join(root, `manifest-${k}`);
        await writeDatasetDir(dir, ds);
        await writeFile(join(dir, 'notes.txt'), 'extra file\n');
        const { dataset } = await readDatasetDir(dir, { checkFinite: false });
        const single = await createManifest(dir, { records: [...datasetRecords(dataset)] });
        const sharded = await manifestOnQueue({ url: url!, name }, dir, {
          dataset,
          filesPerShard: 1,
          recordsPerShard: 32,
        });
        expect(manifestBytes(sharded).equals(manifestBytes(single))).toBe(true);
        expect(sharded.records?.count).toBe(240);
        expect(finished.get('manifest-records')).toBe(8 * (k + 1));
      }
      // And through the CLI.
      const dir = join(root, 'manifest-0');
      const printed = JSON.parse(
        await runProgram(program(), [
          'manifest',
          'create',
          dir,
          '--json',
          '--queue',
          url!,
          '--queue-name',
          name,
        ]),
      );
      const { dataset } = await readDatasetDir(dir, { checkFinite: false });
      const single = await createManifest(dir, { records: [...datasetRecords(dataset)] });
      expect(printed.merkleRoot).toBe(single.records?.merkleRoot);
      expect(printed.rootDigest).toBe(single.rootDigest);
    });
  }, 120_000);

  it('a worker refuses a scan shard whose records changed since the coordinator read them (INTEGRITY_MISMATCH)', async () => {
    const dir = join(root, 'tampered');
    // The coordinator's digest of records 0–10; then one of them differs on the shared filesystem.
    const digest = recordRangeDigest(train, 0, 10);
    const x = train.x.slice();
    x[5 * (x.length / train.y.length)]! += 0.25;
    await writeDatasetDir(dir, { ...train, x });
    await onQueue(1, async (name) => {
      const e = await rejectionOf(
        runJobs(
          { url: url!, name },
          [
            {
              payload: {
                kind: 'scan-representations',
                records: { spec: dir, divideBy255: false, start: 0, end: 10, digest },
                model: { path: join(root, 'scan-model'), digest: '1'.repeat(64) },
                batchSize: 1024,
                threads: 1,
                outFile: join(root, 'never.f32'),
              },
            },
          ],
          ScanShardResultSchema,
        ),
      );
      expect(isAntidoteError(e, 'INTEGRITY_MISMATCH')).toBe(true);
      expect((e as Error).message).toMatch(/records 0–10/);
      expect(existsSync(join(root, 'never.f32'))).toBe(false);
    });
  }, 60_000);

  it('rejects a malformed payload (zod) with INVALID_FORMAT, never running it', async () => {
    await onQueue(1, async (name) => {
      const e = await rejectionOf(
        runJobs(
          { url: url!, name },
          [{ payload: { kind: 'manifest-files', dir: root, paths: [] } as never }],
          ScanShardResultSchema,
        ),
      );
      expect(isAntidoteError(e, 'INVALID_FORMAT')).toBe(true);
    });
  }, 60_000);

  it('fails with INVALID_STATE, writing nothing, when its jobs vanish (Redis lost its data)', async () => {
    const name = queueName();
    const run = runJobs(
      { url: url!, name },
      [{ payload: { kind: 'manifest-files', dir: root, paths: ['spec.json'] } }],
      ScanShardResultSchema,
      { pollMs: 50 },
    );
    await new Promise((r) => setTimeout(r, 300));
    await obliterate(name); // what a restart without persistence leaves: no jobs
    const e = await rejectionOf(run);
    expect(isAntidoteError(e, 'INVALID_STATE')).toBe(true);
  }, 30_000);

  it('fails with IO_ERROR, and no password in the message, when Redis is unreachable', async () => {
    const dead = 'redis://:s3cret-pass@127.0.0.1:1';
    const e = await rejectionOf(
      runJobs(
        { url: dead, name: queueName() },
        [{ payload: { kind: 'manifest-files', dir: root, paths: ['spec.json'] } }],
        ScanShardResultSchema,
        { unreachableMs: 1500 },
      ),
    );
    expect(isAntidoteError(e, 'IO_ERROR')).toBe(true);
    expect(String((e as Error).message)).not.toContain('s3cret');
  }, 30_000);

  it('hands the job of a worker killed with SIGKILL to another; the result is identical', async () => {
    expect(existsSync(CLI), 'dist/ is missing: run npm run build').toBe(true);
    const name = queueName();
    const slow = {
      name: 'slow',
      train: (await readDatasetDir(join(root, 'train'))).dataset,
      test,
      attack: {
        attack: 'backdoor',
        rate: 0.1,
        trigger: { kind: 'pattern' },
        mode: 'all-to-one',
        target: 0,
      } as never,
      // Long enough (seconds) that the worker is killed mid-job on a fast machine too.
      victim: { model: 'logistic', epochs: 400, batchSize: 8, learningRate: 0.05 } as never,
      rates: [0.1],
      seeds: [3],
    };
    const child: ChildProcess = spawn(
      process.execPath,
      [CLI, 'worker', '--queue', url!, '--queue-name', name, '--lock-duration', '2000'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let said = '';
    const saw = (text: string) =>
      new Promise<void>((resolve, reject) => {
        const t = setTimeout(
          () => reject(new Error(`worker never said "${text}": ${said}`)),
          60_000,
        );
        const check = () => {
          if (said.includes(text)) {
            clearTimeout(t);
            resolve();
          }
        };
        child.stdout!.on('data', (d) => {
          said += String(d);
          check();
        });
        check();
      });
    let ws: JobWorker[] = [];
    try {
      await saw('worker ready');
      const password = new URL(url!).password;
      if (password) expect(said).not.toContain(password);
      const refs = {
        train: dataRef(join(root, 'train'), slow.train),
        test: dataRef(join(root, 'test'), test),
      };
      const run = sweepOnQueue({ url: url!, name }, slow, { refs });
      await saw('started');
      await new Promise((r) => setTimeout(r, 300));
      // The precondition of the test: the worker dies with the job in hand, not after it.
      expect(said).not.toContain(') done in');
      child.kill('SIGKILL');
      ws = await workers(name, 1);
      const dist = await run;
      expect(finished.get('sweep-run')).toBe(1); // the killed worker's job, run again here
      const local = await sweep(slow);
      expect(dist.rows).toEqual(local.rows);
      expect(JSON.stringify(dist.results.map((r) => ({ ...r, seconds: 0 })))).toBe(
        JSON.stringify(local.results.map((r) => ({ ...r, seconds: 0 }))),
      );
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await Promise.all(ws.map((w) => w.close()));
      await obliterate(name);
    }
  }, 180_000);
});
