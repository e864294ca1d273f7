#!/usr/bin/env node
// `node bench/server.mjs [--quick]`: POST /v1/predict on loopback with an MNIST mlp, with
// monitoring off, on (the default configuration: drift, error rate, STRIP on a quarter of the
// records escalating to every record under suspicion), and with STRIP on every record (with and
// without exact early acceptance): requests/s, client-side p50/p99 latency, server CPU. The server
// runs in a child process; this process drives load with C concurrent keep-alive clients, one
// record per request. Writes bench/results/server.json.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasFlag, writeResult } from './common.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const dist = (p) => join(here, '..', 'dist', p);
const quick = hasFlag('--quick');

async function child(project, config) {
  const { loadMnist } = await import(dist('data/index.js'));
  const { ModelRegistry, Deployment, parseMonitorConfig } = await import(dist('registry/index.js'));
  const { startServer } = await import(dist('server/index.js'));
  const reg = ModelRegistry.open(project);
  const reference = await loadMnist('test', { limit: 500 });
  const deployment = await Deployment.start(reg, 'mnist', {
    reference,
    monitor: parseMonitorConfig({ strip: { rollback: false, ...config.strip } }),
    monitoring: config.monitoring,
    seed: 1,
  });
  const server = await startServer({ registry: reg, deployment, port: 0, syncIntervalMs: 0 });
  process.stdout.write(`${server.url}\n`);
  // SIGUSR2: report this process's CPU time so far (user + system, ms).
  process.on('SIGUSR2', () => {
    const u = process.cpuUsage();
    process.stdout.write(`cpu ${(u.user + u.system) / 1000}\n`);
  });
  process.on('SIGTERM', () => server.close(2000).then(() => process.exit(0)));
}

async function setup(project) {
  const { loadMnist } = await import(dist('data/index.js'));
  const { initEngine, trainClassifier } = await import(dist('engine/index.js'));
  const { ModelRegistry } = await import(dist('registry/index.js'));
  await initEngine();
  const train = await loadMnist('train', { limit: quick ? 2000 : 10000 });
  const model = await trainClassifier(train, { model: 'mlp', seed: 1, epochs: 1 });
  const dir = join(project, 'model');
  await model.save(dir);
  const reg = ModelRegistry.open(project);
  const { version } = await reg.register(dir, { name: 'mnist', actor: 'bench' });
  // The gate is not what is measured here: record a pass so the version can be promoted.
  reg.recordGateResult(version.id, { passed: true, policyDigest: 'bench', result: {} });
  await reg.promote(version.id, { actor: 'bench' });
  reg.close();
  const test = await loadMnist('test', { limit: 1000 });
  return Array.from({ length: 1000 }, (_, i) =>
    JSON.stringify({ inputs: [Array.from(test.x.subarray(i * 784, (i + 1) * 784))] }),
  );
}

async function load(url, bodies, total, concurrency) {
  // node:http with keep-alive: on a small machine the client shares the CPU with the server, and
  // fetch (undici) alone costs ~4× more per request than the server does.
  const { hostname, port } = new URL(url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const post = (body) =>
    new Promise((res, rej) => {
      const r = http.request(
        {
          host: hostname,
          port,
          path: '/v1/predict',
          method: 'POST',
          agent,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
          },
        },
        (resp) => {
          resp.resume();
          resp.on('end', () => res(resp.statusCode));
        },
      );
      r.on('error', rej);
      r.end(body);
    });
  const lat = [];
  let next = 0;
  let errors = 0;
  const worker = async () => {
    while (next < total) {
      const i = next++;
      const t = performance.now();
      const status = await post(bodies[i % bodies.length]);
      if (status !== 200) errors++;
      lat.push(performance.now() - t);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const secs = (performance.now() - t0) / 1000;
  agent.destroy();
  lat.sort((a, b) => a - b);
  const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
  return {
    requests: total,
    errors,
    seconds: Number(secs.toFixed(3)),
    requestsPerSecond: Number((total / secs).toFixed(1)),
    p50ms: Number(q(0.5).toFixed(2)),
    p99ms: Number(q(0.99).toFixed(2)),
  };
}

async function run(project, config, bodies) {
  const p = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', project, config], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = [];
  const waiters = [];
  let buf = '';
  p.stdout.on('data', (d) => {
    buf += d;
    let i = buf.indexOf('\n');
    while (i >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const w = waiters.shift();
      if (w) w(line);
      else lines.push(line);
      i = buf.indexOf('\n');
    }
  });
  const nextLine = () =>
    lines.length ? Promise.resolve(lines.shift()) : new Promise((r) => waiters.push(r));
  const url = await Promise.race([
    nextLine(),
    new Promise((_, rej) => p.on('exit', (c) => rej(new Error(`server exited with ${c}`)))),
  ]);
  const cpu = async () => {
    p.kill('SIGUSR2');
    return Number((await nextLine()).split(' ')[1]);
  };
  try {
    await load(url, bodies, 200, 8); // warm-up
    const before = await cpu();
    const r = await load(url, bodies, quick ? 1000 : 5000, 16);
    const after = await cpu();
    // Server CPU per request: robust to other load on the machine, unlike requests/s.
    return { ...r, serverCpuMsPerRequest: Number(((after - before) / r.requests).toFixed(4)) };
  } finally {
    p.kill('SIGTERM');
    await new Promise((r) => p.once('exit', r));
  }
}

/**
 * The monitoring configurations measured: `off` serves without monitors; `on` is the default
 * configuration (drift and error monitors, STRIP on a quarter of the records, escalating to every
 * record when rejections pile up, with exact early acceptance); the others probe every record.
 */
const CONFIGS = {
  off: { monitoring: false },
  on: { monitoring: true, strip: {} },
  stripEveryRecord: { monitoring: true, strip: { sampleRate: 1 } },
  stripEveryRecordNoEarlyAccept: { monitoring: true, strip: { sampleRate: 1, earlyAccept: false } },
};

if (process.argv[2] === '--child') {
  await child(process.argv[3], CONFIGS[process.argv[4]]);
} else {
  const project = mkdtempSync(join(tmpdir(), 'antidote-bench-server-'));
  try {
    const bodies = await setup(project);
    // Alternate the configurations and keep each one's median run (load on a shared machine is
    // noisy).
    const rounds = quick ? 1 : 3;
    const runs = Object.fromEntries(Object.keys(CONFIGS).map((k) => [k, []]));
    for (let i = 0; i < rounds; i++) {
      for (const name of Object.keys(CONFIGS)) {
        runs[name].push(await run(project, name, bodies));
        console.error(name, runs[name].at(-1));
      }
    }
    const median = (rs) =>
      rs.slice().sort((a, b) => a.requestsPerSecond - b.requestsPerSecond)[
        Math.floor(rs.length / 2)
      ];
    const off = median(runs.off);
    const overheads = Object.fromEntries(
      Object.keys(CONFIGS)
        .filter((k) => k !== 'off')
        .map((k) => {
          const m = median(runs[k]);
          return [
            k,
            {
              throughput: Number((1 - m.requestsPerSecond / off.requestsPerSecond).toFixed(3)),
              serverCpu: Number(
                (m.serverCpuMsPerRequest / off.serverCpuMsPerRequest - 1).toFixed(3),
              ),
            },
          ];
        }),
    );
    writeResult(quick ? 'server-quick' : 'server', {
      model: 'mnist mlp (1 epoch)',
      concurrency: 16,
      recordsPerRequest: 1,
      configurations: CONFIGS,
      rounds,
      monitoringOff: off,
      monitoringOn: median(runs.on),
      throughputOverhead: overheads.on.throughput,
      cpuOverhead: overheads.on.serverCpu,
      overheads,
      medians: Object.fromEntries(Object.keys(CONFIGS).map((k) => [k, median(runs[k])])),
      allRuns: runs,
      targets: { requestsPerSecondWithMonitoring: 500, maxOverhead: 0.2 },
    });
  } finally {
    rmSync(project, { recursive: true, force: true });
  }
}
