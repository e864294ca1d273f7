#!/usr/bin/env node
// `node bench/server.mjs [--quick]`: POST /v1/predict on loopback with an MNIST mlp, with
// monitoring (input/prediction drift, STRIP on every request with exact early acceptance, error
// rate) on and off, and STRIP without early acceptance / on 1 request in 4: requests/s
// and client-side p50/p99 latency. The server runs in a child process; this process drives load
// with C concurrent keep-alive clients, one record per request. Writes bench/results/server.json.
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

async function child(project, monitoring, sampleRate, earlyAccept) {
  const { loadMnist } = await import(dist('data/index.js'));
  const { ModelRegistry, Deployment, parseMonitorConfig } = await import(dist('registry/index.js'));
  const { startServer } = await import(dist('server/index.js'));
  const reg = ModelRegistry.open(project);
  const reference = await loadMnist('test', { limit: 500 });
  const deployment = await Deployment.start(reg, 'mnist', {
    reference,
    monitor: parseMonitorConfig({ strip: { rollback: false, sampleRate, earlyAccept } }),
    monitoring,
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
  reg.promote(version.id, { actor: 'bench' });
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

async function run(project, monitoring, bodies, sampleRate = 1, earlyAccept = true) {
  const p = spawn(
    process.execPath,
    [
      fileURLToPath(import.meta.url),
      '--child',
      project,
      String(monitoring),
      String(sampleRate),
      String(earlyAccept),
    ],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
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

if (process.argv[2] === '--child') {
  await child(
    process.argv[3],
    process.argv[4] === 'true',
    Number(process.argv[5]),
    process.argv[6] === 'true',
  );
} else {
  const project = mkdtempSync(join(tmpdir(), 'antidote-bench-server-'));
  try {
    const bodies = await setup(project);
    // Alternate the two configurations and keep each one's median run (load on a shared
    // machine is noisy).
    const rounds = quick ? 1 : 3;
    const offs = [];
    const ons = [];
    const sampled = [];
    const full = [];
    for (let i = 0; i < rounds; i++) {
      offs.push(await run(project, false, bodies));
      console.error('monitoring off', offs.at(-1));
      ons.push(await run(project, true, bodies));
      console.error('monitoring on ', ons.at(-1));
      full.push(await run(project, true, bodies, 1, false));
      console.error('monitoring on, STRIP without early acceptance', full.at(-1));
      sampled.push(await run(project, true, bodies, 0.25));
      console.error('monitoring on, STRIP on 1 request in 4', sampled.at(-1));
    }
    const median = (rs) =>
      rs.slice().sort((a, b) => a.requestsPerSecond - b.requestsPerSecond)[
        Math.floor(rs.length / 2)
      ];
    const off = median(offs);
    const on = median(ons);
    const onSampled = median(sampled);
    const onFull = median(full);
    const overhead = 1 - on.requestsPerSecond / off.requestsPerSecond;
    writeResult(quick ? 'server-quick' : 'server', {
      model: 'mnist mlp (1 epoch)',
      concurrency: 16,
      recordsPerRequest: 1,
      strip: { overlays: 8, sampleRate: 1, earlyAccept: true },
      rounds,
      monitoringOff: off,
      monitoringOn: on,
      allRuns: { off: offs, on: ons, onStripSampled: sampled, onStripNoEarlyAccept: full },
      throughputOverhead: Number(overhead.toFixed(3)),
      monitoringOnStripSampled: { stripSampleRate: 0.25, ...onSampled },
      monitoringOnStripNoEarlyAccept: onFull,
      throughputOverheadStripNoEarlyAccept: Number(
        (1 - onFull.requestsPerSecond / off.requestsPerSecond).toFixed(3),
      ),
      cpuOverhead: Number((on.serverCpuMsPerRequest / off.serverCpuMsPerRequest - 1).toFixed(3)),
      cpuOverheadStripSampled: Number(
        (onSampled.serverCpuMsPerRequest / off.serverCpuMsPerRequest - 1).toFixed(3),
      ),
      throughputOverheadStripSampled: Number(
        (1 - onSampled.requestsPerSecond / off.requestsPerSecond).toFixed(3),
      ),
      targets: { requestsPerSecondWithMonitoring: 500, maxOverhead: 0.2 },
    });
  } finally {
    rmSync(project, { recursive: true, force: true });
  }
}
