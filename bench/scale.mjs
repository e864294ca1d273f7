#!/usr/bin/env node
// `npm run bench -- --only scale [--quick]`: distributed jobs on BullMQ/Redis (issue 22).
//   sweep: 8 training runs (MNIST cnn, 1 epoch) through `sweep --queue`, 2 workers vs 1 worker;
//   scan:  60,000 MNIST records, `scan --queue` over 2 workers vs `scan` in 1 process (same flags);
//   sim:   many in-process workers on tiny jobs (queue overhead, Redis commands per job), against
//          the cost model of docs/scale.md;
//   registry: bench/scale-registry.mjs's JSON when that suite exists (--part registry, or no --part).
// Workers are `antidote worker` processes on a private redis-server (own port, no persistence,
// so its command counts are ours). Writes bench/results/scale.json. Options: --quick (small
// sizes, a smoke test), --train N (sweep training records, default 10,000), --scan N (scan
// records, default 60,000), --scan-rounds N (warm pairs of the scan, default 3: one process then
// 2 warm workers, N times after the cold pair; medians reported), --worker-nice N (the workers
// run at nice value N: `antidote worker --nice`).
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import IORedis from 'ioredis';
import { resultsDir, writeResult } from './common.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..');
const cli = join(repo, 'dist', 'cli', 'main.js');
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const num = (flag, d) => {
  const i = args.indexOf(flag);
  return i >= 0 ? Number(args[i + 1]) : d;
};
const SWEEP_TRAIN = num('--train', quick ? 600 : 10_000);
const SWEEP_TEST = quick ? 200 : 2_000;
const SCAN_RECORDS = num('--scan', quick ? 3_000 : 60_000);
const SCAN_ROUNDS = Math.max(1, num('--scan-rounds', 3));
// `antidote worker --nice N` for the workers (default: none): on this one machine the workers
// then yield to the scan's coordinator (docs/scale.md, the sixth pass).
const WORKER_NICE = args.includes('--worker-nice') ? num('--worker-nice', 0) : undefined;
const SIM_JOBS = quick ? 200 : 1_000;
const log = (s) => process.stderr.write(`scale: ${s}\n`);
const work = mkdtempSync(join(tmpdir(), 'antidote-bench-scale-'));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** A private redis-server (loopback, random password, no persistence). */
async function startRedis() {
  const port = await freePort();
  const password = randomBytes(12).toString('hex');
  const proc = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  const url = `redis://:${password}@127.0.0.1:${port}`;
  const admin = new IORedis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 1,
  });
  admin.on('error', () => {});
  for (let i = 0; i < 50; i++) {
    try {
      await admin.connect();
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  await admin.config('SET', 'requirepass', password);
  await admin.auth(password);
  return {
    url,
    admin,
    /** Total commands the server has processed (INFO commandstats). */
    async commands() {
      const info = await admin.info('commandstats');
      let n = 0;
      for (const m of info.matchAll(/calls=(\d+)/g)) n += Number(m[1]);
      return n;
    },
    async stop() {
      admin.disconnect();
      proc.kill('SIGTERM');
    },
  };
}

/** Runs the CLI, returns seconds and stdout; throws on failure. */
function runCli(argv) {
  const t = performance.now();
  const r = spawnSync(process.execPath, [cli, ...argv], { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`antidote ${argv[0]} failed (${r.status}): ${r.stderr}`);
  return { seconds: (performance.now() - t) / 1000, stdout: r.stdout };
}

/** CPU seconds (user + system) a live process has used so far (Linux /proc; 100 ticks/s). */
function cpuSecondsOf(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/**
 * Runs the CLI under bash's `time` (async, so the workers' output is read meanwhile): wall
 * seconds and the CPU seconds (user + system) of the process and its children.
 */
function timedCli(argv, env = process.env) {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const quoted = [process.execPath, cli, ...argv].map((a) => `'${a.replaceAll("'", "'\\''")}'`);
    const p = spawn('bash', ['-c', `TIMEFORMAT='cpu %U %S'; time ${quoted.join(' ')} >/dev/null`], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env,
    });
    let err = '';
    p.stderr.on('data', (d) => {
      err += String(d);
    });
    p.on('exit', (c) => {
      const m = /cpu ([0-9.]+) ([0-9.]+)\s*$/.exec(err);
      if (c !== 0 || !m) return reject(new Error(`antidote ${argv[0]} failed (${c}): ${err}`));
      resolve({ seconds: (performance.now() - t) / 1000, cpu: Number(m[1]) + Number(m[2]) });
    });
  });
}

/** Starts `n` `antidote worker` processes on queue `name`, resolved when all are ready. */
async function startWorkers(url, name, n) {
  const procs = [];
  const jobSeconds = [];
  /** Each finished job: its kind, seconds, and when its line came (ms, performance.now()). */
  const jobs = [];
  /** Each started job: its kind, and when its line came. */
  const starts = [];
  /** Each worker's start: seconds from spawn to `worker ready`, and its CPU seconds then. */
  const ready = [];
  for (let i = 0; i < n; i++) {
    const spawned = performance.now();
    const nice = WORKER_NICE !== undefined ? ['--nice', String(WORKER_NICE)] : [];
    const p = spawn(
      process.execPath,
      [cli, 'worker', '--queue', url, '--queue-name', name, ...nice],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    await new Promise((resolve, reject) => {
      p.stdout.on('data', (d) => {
        out += String(d);
        for (const m of String(d).matchAll(/\(([a-z-]+)\) started/g)) {
          starts.push({ worker: i, kind: m[1], at: performance.now() });
        }
        for (const m of String(d).matchAll(
          /\(([a-z-]+)\) done in ([0-9.]+) s(?: \(cpu ([0-9.]+) s\))?/g,
        )) {
          jobSeconds.push(Number(m[2]));
          jobs.push({
            worker: i,
            kind: m[1],
            seconds: Number(m[2]),
            cpuSeconds: Number(m[3] ?? Number.NaN),
            at: performance.now(),
          });
        }
        if (out.includes('worker ready') && ready.length === i) {
          ready.push({
            seconds: (performance.now() - spawned) / 1000,
            cpuSeconds: cpuSecondsOf(p.pid),
          });
          resolve();
        }
      });
      p.on('exit', (c) => reject(new Error(`worker exited with ${c}`)));
    });
    procs.push(p);
  }
  return {
    jobSeconds,
    jobs,
    starts,
    ready,
    /** CPU seconds each worker has used so far. */
    cpu: () => procs.map((p) => cpuSecondsOf(p.pid)),
    async stop() {
      await Promise.all(
        procs.map(
          (p) =>
            new Promise((resolve) => {
              if (p.exitCode !== null) return resolve();
              p.on('exit', resolve);
              p.kill('SIGTERM');
            }),
        ),
      );
    },
  };
}

async function withWorkers(redis, n, fn) {
  const name = `bench-${randomBytes(4).toString('hex')}`;
  const w = await startWorkers(redis.url, name, n);
  try {
    const r = await fn(name);
    return { ...r, jobSeconds: w.jobSeconds };
  } finally {
    await w.stop();
  }
}

async function benchSweep(redis) {
  const spec = join(work, 'sweep.json');
  const runs = quick
    ? { rates: [0.05, 0.1], seeds: [1, 2] }
    : { rates: [0.01, 0.05, 0.1, 0.2], seeds: [1, 2] };
  writeFileSync(
    spec,
    JSON.stringify({
      name: 'scale',
      data: {
        train: 'mnist:train',
        test: 'mnist:test',
        trainLimit: SWEEP_TRAIN,
        testLimit: SWEEP_TEST,
      },
      attack: { attack: 'backdoor', trigger: { kind: 'pattern' }, mode: 'all-to-one', target: 0 },
      victim: { model: 'cnn', epochs: 1 },
      ...runs,
    }),
  );
  const jobs = runs.rates.length * runs.seeds.length;
  const time = {};
  const perJob = {};
  const csv = {};
  for (const n of [1, 2]) {
    const out = join(work, `sweep-${n}`);
    const before = await redis.commands();
    const r = await withWorkers(redis, n, (name) =>
      runCli(['sweep', spec, '--out', out, '--json', '--queue', redis.url, '--queue-name', name]),
    );
    time[n] = r.seconds;
    perJob[n] = r.jobSeconds;
    csv[n] = readFileSync(join(out, 'sweep.csv'), 'utf8');
    log(
      `sweep of ${jobs} runs, ${n} worker(s): ${r.seconds.toFixed(1)} s (${(await redis.commands()) - before} Redis commands)`,
    );
  }
  return {
    runs: jobs,
    trainRecords: SWEEP_TRAIN,
    testRecords: SWEEP_TEST,
    model: 'cnn, 1 epoch',
    seconds: { oneWorker: time[1], twoWorkers: time[2] },
    jobSeconds: perJob,
    speedup: time[1] / time[2],
    target: 1.7,
    sameTable: csv[1] === csv[2],
  };
}

/**
 * Seconds and CPU seconds (the worker's, while the job ran) of each kind of job, summed, when the
 * first one started and when the last one ended (from `t0`).
 */
function stageBreakdown(jobs, t0, t1, starts = []) {
  const byKind = {};
  const kind = (name) =>
    (byKind[name] ??= {
      jobs: 0,
      seconds: 0,
      cpuSeconds: 0,
      firstStart: Number.POSITIVE_INFINITY,
      lastDone: 0,
    });
  for (const j of jobs) {
    if (j.at < t0 || j.at > t1) continue;
    const k = kind(j.kind);
    k.jobs++;
    k.seconds += j.seconds;
    k.cpuSeconds += j.cpuSeconds;
    k.lastDone = Math.max(k.lastDone, (j.at - t0) / 1000);
  }
  for (const j of starts) {
    if (j.at < t0 || j.at > t1) continue;
    const k = kind(j.kind);
    k.firstStart = Math.min(k.firstStart, (j.at - t0) / 1000);
  }
  for (const k of Object.values(byKind)) if (!Number.isFinite(k.firstStart)) delete k.firstStart;
  return byKind;
}

/**
 * The stretches of a distributed scan where the workers wait for the coordinator (seconds, from
 * the coordinator's spawn): before the first shard starts, between the last shard and the first
 * class job, and from the last class job to the coordinator's exit (decision and report).
 */
function serialStretches(stage, seconds) {
  const f = stage['scan-representations'];
  const c = stage['scan-classes'];
  if (!f || !c) return undefined;
  return {
    start: f.firstStart,
    between: c.firstStart - f.lastDone,
    end: seconds - c.lastDone,
  };
}

async function benchScan(redis) {
  const data = `mnist:train:${SCAN_RECORDS}`;
  const model = join(work, 'scan-model');
  log(`training the scanned model (cnn, 1 epoch, ${quick ? 2000 : 10000} records)`);
  runCli([
    'train',
    '--data',
    `mnist:train:${quick ? 2000 : 10000}`,
    '--model',
    'cnn',
    '--epochs',
    '1',
    '--out',
    model,
    '--quiet',
  ]);
  const local = (k) => join(work, `scan-local-${k}`);
  const dist = (k) => join(work, `scan-queue-${k}`);
  const scanArgs = (out) => ['scan', '--data', data, '--model', model, '--out', out, '--json'];
  // Interleaved on one set of workers: 1 process, 2 workers (cold: their first scan loads the
  // dataset and the model), then `SCAN_ROUNDS` times 1 process, 2 workers (warm: cached by
  // digest), so a load change on the shared machine hits both sides; medians of each.
  const name = `bench-${randomBytes(4).toString('hex')}`;
  const w = await startWorkers(redis.url, name, 2);
  log(
    `workers ready (start and warm-up, before the cold scan): ${w.ready.map((x) => `${x.seconds.toFixed(1)} s, cpu ${x.cpuSeconds.toFixed(1)} s`).join('; ')}`,
  );
  // A private temp folder for the scans, so the cache of verified digests (jobs/digest-cache.ts)
  // starts empty: the cold run misses it (the coordinator digests the shards), the warm one hits.
  const tmp = join(work, 'tmp');
  mkdirSync(tmp, { recursive: true });
  const env = { ...process.env, TMPDIR: tmp };
  const seconds = { oneProcess: [], twoWorkersCold: undefined, twoWorkersWarmRuns: [] };
  const cpu = { oneProcess: [], coordinator: { twoWorkersWarmRuns: [] }, workers: {} };
  const warmWorkers = [];
  const stages = { twoWorkersWarmRuns: [] };
  const serial = { twoWorkersWarmRuns: [] };
  // The 1-minute load average as each scan ends (the machine may be shared).
  const load = { oneProcess: [], twoWorkersWarmRuns: [] };
  let commands = 0;
  const modes = [
    'one',
    'cold',
    ...Array.from({ length: SCAN_ROUNDS }, () => ['one', 'warm']).flat(),
  ];
  try {
    for (const [k, mode] of modes.entries()) {
      if (mode === 'one') {
        const r = await timedCli(scanArgs(local(k)), env);
        seconds.oneProcess.push(r.seconds);
        cpu.oneProcess.push(r.cpu);
        load.oneProcess.push(loadavg()[0]);
        log(
          `scan of ${SCAN_RECORDS} records, 1 process: ${r.seconds.toFixed(1)} s (cpu ${r.cpu.toFixed(1)} s)`,
        );
        continue;
      }
      const before = await redis.commands();
      const cpu0 = w.cpu();
      const t0 = performance.now();
      const r = await timedCli(
        [...scanArgs(dist(k)), '--queue', redis.url, '--queue-name', name],
        env,
      );
      commands += (await redis.commands()) - before;
      const workersCpu = w.cpu().map((c, i) => c - cpu0[i]);
      const stage = stageBreakdown(w.jobs, t0, performance.now(), w.starts);
      const stretches = serialStretches(stage, r.seconds);
      if (mode === 'cold') {
        seconds.twoWorkersCold = r.seconds;
        load.twoWorkersCold = loadavg()[0];
        cpu.coordinator.twoWorkersCold = r.cpu;
        cpu.workers.twoWorkersCold = workersCpu;
        stages.twoWorkersCold = stage;
        serial.twoWorkersCold = stretches;
      } else {
        seconds.twoWorkersWarmRuns.push(r.seconds);
        load.twoWorkersWarmRuns.push(loadavg()[0]);
        cpu.coordinator.twoWorkersWarmRuns.push(r.cpu);
        warmWorkers.push(workersCpu);
        stages.twoWorkersWarmRuns.push(stage);
        serial.twoWorkersWarmRuns.push(stretches);
      }
      log(
        `scan of ${SCAN_RECORDS} records, 2 workers (${mode}): ${r.seconds.toFixed(1)} s (cpu: coordinator ${r.cpu.toFixed(1)} s, workers ${workersCpu.map((c) => c.toFixed(1)).join(' + ')} s); jobs ${JSON.stringify(stage)}`,
      );
      if (stretches) {
        log(
          `  workers waiting on the coordinator: ${stretches.start.toFixed(2)} s before the first shard, ${stretches.between.toFixed(2)} s between the phases, ${stretches.end.toFixed(2)} s after the last class job (decision, report, exit)`,
        );
      }
    }
  } finally {
    await w.stop();
  }
  // The warm figures: the medians of the warm runs (the run whose wall time is the median, for
  // its CPU seconds and stages, so that they stay one run's).
  const med = (xs) => {
    const v = [...xs].sort((a, b) => a - b);
    return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  };
  const warmOrder = seconds.twoWorkersWarmRuns
    .map((t, i) => [t, i])
    .sort((a, b) => a[0] - b[0])
    .map(([, i]) => i);
  const mid = warmOrder[Math.floor((warmOrder.length - 1) / 2)];
  seconds.twoWorkersWarm = med(seconds.twoWorkersWarmRuns);
  load.twoWorkersWarm = load.twoWorkersWarmRuns[mid];
  cpu.coordinator.twoWorkersWarm = cpu.coordinator.twoWorkersWarmRuns[mid];
  cpu.workers.twoWorkersWarm = warmWorkers[mid];
  cpu.workers.twoWorkersWarmRuns = warmWorkers;
  stages.twoWorkersWarm = stages.twoWorkersWarmRuns[mid];
  const read = (d, f) => readFileSync(join(d, f), 'utf8');
  const a = JSON.parse(read(local(0), 'report.json'));
  const identical = modes
    .map((m, k) => (m === 'one' ? local(k) : dist(k)))
    .every(
      (d) =>
        read(d, 'report.json') === read(local(0), 'report.json') &&
        read(d, 'suspicious.csv') === read(local(0), 'suspicious.csv'),
    );
  const shards = Math.ceil(
    SCAN_RECORDS / (Math.max(1, Math.ceil(Math.ceil(SCAN_RECORDS / 256) / 1024)) * 1024),
  );
  const one = med(seconds.oneProcess);
  // On a loaded machine wall times measure the neighbours; CPU seconds measure the work. The
  // quiet-machine projection: one process runs its CPU seconds; the distributed scan, the
  // coordinator's (serial: it loads, waits, merges) plus the busier worker's.
  const oneCpu = med(cpu.oneProcess);
  const projected = (key) => oneCpu / (cpu.coordinator[key] + Math.max(...cpu.workers[key]));
  // The two-core floor: the coordinator now overlaps the workers (it submits the shards before
  // it reads the data when the digest cache knows the files), so on 2 free cores the distributed
  // scan takes at least its total CPU / 2, and at least the busier worker's CPU.
  const floor = (key) =>
    oneCpu /
    Math.max(
      (cpu.coordinator[key] + cpu.workers[key].reduce((x, y) => x + y, 0)) / 2,
      Math.max(...cpu.workers[key]),
    );
  return {
    records: SCAN_RECORDS,
    loadAverageAfter: loadavg(),
    loadAverage: load,
    shards,
    seconds,
    speedup: { cold: one / seconds.twoWorkersCold, warm: one / seconds.twoWorkersWarm },
    cpuSeconds: cpu,
    projectedSpeedupFromCpu: {
      cold: projected('twoWorkersCold'),
      warm: projected('twoWorkersWarm'),
    },
    projectedSpeedupTwoCoreFloor: { cold: floor('twoWorkersCold'), warm: floor('twoWorkersWarm') },
    // Each distributed run against the 1-process run just before it: cold, then the warm ones.
    pairs: [
      seconds.oneProcess[0] / seconds.twoWorkersCold,
      ...seconds.twoWorkersWarmRuns.map((t, i) => seconds.oneProcess[i + 1] / t),
    ],
    warmRounds: SCAN_ROUNDS,
    target: 1.6,
    flagged: a.decision.flaggedIds.length,
    identicalReport: identical,
    redisCommandsPerScan: commands / (SCAN_ROUNDS + 1),
    workerJobSeconds: stages,
    // Where the workers waited on the coordinator (the warm figure: the median run's).
    serialStretches: { ...serial, twoWorkersWarm: serial.twoWorkersWarmRuns[mid] },
    workersReady: w.ready,
    ...(WORKER_NICE !== undefined ? { workerNice: WORKER_NICE } : {}),
  };
}

/**
 * Many in-process workers on tiny jobs (hash one small file): what the queue itself costs. The
 * model (docs/scale.md): a job's time at one worker, t1 = T(1) / J, is mostly waiting on Redis
 * round trips, which W workers overlap; the CPU the coordinator, the workers' JavaScript and the
 * Redis client spend per job, c (measured at W = 1), does not overlap here (one Node thread holds
 * them all, as one Redis thread serves all commands). So T(W) = J · max(t1 / W, c), predicted for
 * W = 2…16 from the W = 1 run alone and compared with the measured times.
 */
async function benchSimulation(redis) {
  const { startWorker } = await import(join(repo, 'dist', 'jobs', 'worker.js'));
  const { runJobs } = await import(join(repo, 'dist', 'jobs', 'run-jobs.js'));
  const { ManifestFilesResultSchema } = await import(join(repo, 'dist', 'jobs', 'payloads.js'));
  const dir = join(work, 'sim');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'f.txt'), 'x'.repeat(1024));
  const payloads = Array.from({ length: SIM_JOBS }, () => ({
    payload: { kind: 'manifest-files', dir, paths: ['f.txt'] },
  }));
  const measured = {};
  const cpu = {};
  const commandsPerJob = {};
  for (const w of [1, 2, 4, 8, 16]) {
    const name = `sim-${randomBytes(4).toString('hex')}`;
    const workers = await Promise.all(
      Array.from({ length: w }, () => startWorker({ url: redis.url, name })),
    );
    const before = await redis.commands();
    const t = performance.now();
    const c0 = process.cpuUsage();
    await runJobs({ url: redis.url, name }, payloads, ManifestFilesResultSchema);
    measured[w] = (performance.now() - t) / 1000;
    const c1 = process.cpuUsage(c0);
    cpu[w] = (c1.user + c1.system) / 1e6;
    commandsPerJob[w] = ((await redis.commands()) - before) / SIM_JOBS;
    await Promise.all(workers.map((x) => x.close()));
    log(`simulation: ${SIM_JOBS} tiny jobs, ${w} in-process workers: ${measured[w].toFixed(2)} s`);
  }
  const t1 = measured[1] / SIM_JOBS;
  const c = cpu[1] / SIM_JOBS;
  const model = Object.fromEntries([2, 4, 8, 16].map((w) => [w, SIM_JOBS * Math.max(t1 / w, c)]));
  return {
    jobs: SIM_JOBS,
    seconds: measured,
    jobsPerSecond: Object.fromEntries(Object.entries(measured).map(([w, s]) => [w, SIM_JOBS / s])),
    redisCommandsPerJob: commandsPerJob,
    cpuSeconds: cpu,
    model: { perJobSeconds: t1, cpuPerJobSeconds: c },
    predicted: model,
    predictionError: Object.fromEntries(
      [2, 4, 8, 16].map((w) => [w, (measured[w] - model[w]) / measured[w]]),
    ),
  };
}

function registry() {
  const suite = join(here, 'scale-registry.mjs');
  if (!existsSync(suite)) return undefined;
  log('running bench/scale-registry.mjs');
  const r = spawnSync(process.execPath, [suite, ...args], { stdio: 'inherit' });
  const file = join(resultsDir, 'scale-registry.json');
  if (r.status !== 0 || !existsSync(file))
    return { error: `scale-registry.mjs exited with ${r.status}` };
  return JSON.parse(readFileSync(file, 'utf8'));
}

const redis = await startRedis();
try {
  const only = args.includes('--part')
    ? args[args.indexOf('--part') + 1].split(',')
    : ['sim', 'sweep', 'scan'];
  const result = { quick };
  if (only.includes('sim')) result.simulation = await benchSimulation(redis);
  if (only.includes('sweep')) result.sweep = await benchSweep(redis);
  if (only.includes('scan')) result.scan = await benchScan(redis);
  const reg = !args.includes('--part') || only.includes('registry') ? registry() : undefined;
  if (reg) result.registry = reg;
  writeResult('scale', result);
} finally {
  await redis.stop();
  rmSync(work, { recursive: true, force: true });
}
