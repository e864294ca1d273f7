import { describe, expect, it } from 'vitest';
import { Rng } from '../util/rng.js';
import { ClientBudget } from './client-budget.js';
import { LiveMonitor, parseMonitorConfig, tripMayRollBack } from './monitor.js';

function sample(n: number, dim: number, mean: number, seed: number): Float32Array {
  const r = new Rng(seed);
  return Float32Array.from({ length: n * dim }, () => r.normal(mean, 1));
}

const dim = 8;
const refX = sample(300, dim, 0, 1);
const reference = {
  x: refX,
  n: 300,
  dim,
  predictions: Int32Array.from({ length: 300 }, (_, i) => i % 3),
  numClasses: 3,
};

/** One served record with its STRIP decision (1 = rejected). */
const obs = (rej: number) => ({
  x: sample(1, dim, 0, 1),
  n: 1,
  predictions: new Int32Array(1),
  stripRejected: Uint8Array.of(rej),
  stripEntropy: Float32Array.of(rej ? 0.01 : 1),
});

describe('LiveMonitor', () => {
  it('validates its configuration with defaults', () => {
    const c = parseMonitorConfig({ strip: { maxRejectRate: 0.5 } });
    expect(c.strip).toMatchObject({ maxRejectRate: 0.5, window: 20, rollback: true });
    expect(c.inputDrift.psiThreshold).toBe(0.25);
    expect(() => parseMonitorConfig({ strip: { frr: 2 } }, 'm.json')).toThrow(/m.json: strip.frr/);
    expect(() => parseMonitorConfig({ nope: 1 })).toThrow(/INVALID|Unrecognized|nope/);
    // Drift is not a backdoor: the drift monitors never roll back.
    expect(parseMonitorConfig({ inputDrift: { rollback: false } }).inputDrift.rollback).toBe(false);
    for (const m of ['inputDrift', 'predictionDrift']) {
      expect(() => parseMonitorConfig({ [m]: { rollback: true } })).toThrow(
        new RegExp(`${m}.rollback: drift monitors never roll back`),
      );
    }
  });

  it('stays quiet on reference-like traffic and trips on drift and skewed predictions', () => {
    const quiet = new LiveMonitor(parseMonitorConfig({}), reference);
    for (let i = 0; i < 10; i++) {
      const trips = quiet.observe({
        x: sample(20, dim, 0, 100 + i),
        n: 20,
        predictions: Int32Array.from({ length: 20 }, (_, j) => j % 3),
      });
      expect(trips).toEqual([]);
    }
    const m = new LiveMonitor(parseMonitorConfig({}), reference);
    const seen = new Set<string>();
    for (let i = 0; i < 10; i++) {
      for (const t of m.observe({
        x: sample(20, dim, 1.5, 200 + i),
        n: 20,
        predictions: new Int32Array(20),
      })) {
        seen.add(t.monitor);
        expect(t.rollback).toBe(false);
        expect(t.severity).toBe('warning');
      }
    }
    expect([...seen].sort()).toEqual(['input-drift', 'prediction-drift']);
    expect(m.metrics().inputPsiMax).toBeGreaterThan(0.25);
  });

  it('trips STRIP (with rollback) once the rejected share passes the threshold, then cools down', () => {
    const m = new LiveMonitor(parseMonitorConfig({ cooldown: 1000 }), reference);
    const trips: number[] = [];
    for (let i = 0; i < 40; i++)
      if (m.observe(obs(i >= 10 ? 1 : 0)).some((t) => t.monitor === 'strip')) trips.push(i);
    // 10 clean, then rejects: after the 5th reject 5/15 = 0.33 > 0.3 (window not yet full);
    // the cooldown keeps it from alerting again on every later request.
    expect(trips).toEqual([14]);
  });

  it('probes a sample of clean traffic and every record once rejections pile up', () => {
    const m = new LiveMonitor(parseMonitorConfig({ cooldown: 1000 }), reference);
    expect(m.config.strip.sampleRate).toBe(0.25);
    expect(m.stripSampleRate()).toBe(0.25);
    for (let i = 0; i < 18; i++) m.observe(obs(i === 5 || i === 9 ? 1 : 0));
    expect(m.stripSampleRate()).toBe(0.25); // 2 of the last 18 probes: clean at 5% FRR
    m.observe(obs(1));
    expect(m.stripSampleRate()).toBe(1); // 3 of 19: probe everything
    for (let i = 0; i < 20; i++) m.observe(obs(0));
    expect(m.stripSampleRate()).toBe(0.25); // the rejections left the window
    expect(
      new LiveMonitor(
        parseMonitorConfig({ strip: { enabled: false } }),
        reference,
      ).stripSampleRate(),
    ).toBe(0);
    const every = new LiveMonitor(parseMonitorConfig({ strip: { sampleRate: 1 } }), reference);
    expect(every.stripSampleRate()).toBe(1);
  });

  it('tracks the error rate', () => {
    const m = new LiveMonitor(parseMonitorConfig({}), undefined);
    let tripped = false;
    for (let i = 0; i < 30; i++) if (m.observeError().length) tripped = true;
    expect(tripped).toBe(true);
    expect(m.metrics().failed).toBe(30);
  });
  it('lets a STRIP trip roll back only on rejections from enough distinct trusted clients', () => {
    const trip = (clients: readonly string[]) => {
      const m = new LiveMonitor(parseMonitorConfig({ cooldown: 1000 }), reference);
      for (let i = 0; i < 10; i++) m.observe({ ...obs(0), client: 'principal:clean' });
      for (let i = 0; i < 10; i++) {
        const t = m
          .observe({ ...obs(1), client: clients[i % clients.length]! })
          .find((x) => x.monitor === 'strip');
        if (t) return t;
      }
      throw new Error('STRIP did not trip');
    };
    // One client (or untrusted ones, '') cannot fabricate the evidence; three can.
    const one = trip(['principal:mallory']);
    expect(one.rollback).toBe(true);
    expect(one.evidence).toEqual({ clients: 1, required: 3 });
    expect(tripMayRollBack(one)).toBe(false);
    expect(tripMayRollBack(trip(['']))).toBe(false);
    // The clean client's accepted records are no evidence of triggers.
    expect(trip(['principal:a', 'principal:b']).evidence.clients).toBe(2);
    const three = trip(['principal:a', 'principal:b', 'principal:c']);
    expect(three.evidence.clients).toBe(3);
    expect(tripMayRollBack(three)).toBe(true);
    expect(parseMonitorConfig({}).evidence).toEqual({
      minClients: 3,
      clientRecordsPerMinute: 600,
      unauthenticated: false,
    });
  });

  it('rate-limits what one client contributes (token bucket per client)', () => {
    let now = 0;
    const b = new ClientBudget(60, () => now);
    expect(b.take('a', 50)).toBe(true);
    expect(b.take('a', 20)).toBe(false); // 10 left
    expect(b.take('b', 60)).toBe(true); // another client has its own budget
    now += 10_000; // +10 records
    expect(b.take('a', 20)).toBe(true);
    expect(b.take('a', 1)).toBe(false);
  });
});
