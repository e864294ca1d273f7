import { describe, expect, it } from 'vitest';
import type { IntegrityFindings } from './integrity-check.js';
import {
  auditPolicySchema,
  backdoorExposed,
  decidePolicy,
  vulnerabilityStatus,
  worstVerdict,
} from './policy.js';
import type { VulnerabilityAssessment } from './vulnerability.js';

const policy = auditPolicySchema.parse({});
const unsigned: IntegrityFindings = { records: 1000, signature: { present: false } };
const flags = (n: number, flagged: number) =>
  Uint8Array.from({ length: n }, (_, i) => (i < flagged ? 1 : 0));

function assessment(
  asr90Rate: number | null,
  limitations: readonly string[] = [],
): VulnerabilityAssessment {
  return {
    trainRecords: 100,
    testRecords: 50,
    victim: { model: 'cnn', epochs: 1 },
    cleanAccuracy: 0.9,
    minClassRecords: limitations.length ? 20 : 50,
    limitations,
    curves: [{ attack: 'backdoor', description: 'b', points: [], asr50Rate: null, asr90Rate }],
  };
}

describe('decidePolicy', () => {
  it('passes clean findings, warns on a few flagged records, fails on too many', () => {
    const clean = decidePolicy(policy, { integrity: unsigned, flagged: flags(1000, 0) });
    expect(clean).toMatchObject({ verdict: 'pass', passed: true, failures: [], scan: 'pass' });
    const few = decidePolicy(policy, { integrity: unsigned, flagged: flags(1000, 5) });
    expect(few).toMatchObject({ verdict: 'review', passed: true, scan: 'review', flagged: 5 });
    const many = decidePolicy(policy, { integrity: unsigned, flagged: flags(1000, 6) });
    expect(many).toMatchObject({ verdict: 'fail', passed: false, scan: 'fail' });
    expect(many.failures).toEqual([
      "the scan flagged 6 records (0.60%), more than the policy's 0.50%",
    ]);
    const lenient = decidePolicy(
      { ...policy, failOn: 'review' },
      { integrity: unsigned, flagged: flags(1000, 5) },
    );
    expect(lenient.passed).toBe(false);
  });

  it('fails the integrity stage on a bad or a required-but-missing signature', () => {
    const bad = decidePolicy(policy, {
      integrity: { records: 10, signature: { present: true, verified: false } },
      flagged: flags(10, 0),
    });
    expect(bad).toMatchObject({ verdict: 'fail', integrity: 'fail' });
    expect(bad.failures).toEqual(['the dataset signature does not verify']);
    const required = decidePolicy(
      { ...policy, requireSignature: true },
      { integrity: unsigned, flagged: flags(10, 0) },
    );
    // The verdict and the integrity section agree: both fail.
    expect(required).toMatchObject({ verdict: 'fail', integrity: 'fail' });
  });

  it('warns when a backdoor reaches 90% ASR at or below the policy rate', () => {
    const exposed = decidePolicy(policy, {
      integrity: unsigned,
      flagged: flags(10, 0),
      vulnerability: assessment(0.01),
    });
    expect(exposed).toMatchObject({ verdict: 'review', vulnerability: 'review', exposed: true });
    expect(backdoorExposed(assessment(0.02), 0.01)).toBe(false);
    expect(backdoorExposed(assessment(null), 0.01)).toBe(false);
    expect(backdoorExposed(undefined, 0.01)).toBe(false);
  });

  it('neither warns nor passes the vulnerability stage on a rate that was not computed', () => {
    const tiny = assessment(null, ['the smallest class has only 20 training records']);
    const d = decidePolicy(policy, {
      integrity: unsigned,
      flagged: flags(10, 0),
      vulnerability: tiny,
    });
    // Not assessed: no status; the verdict comes from the other stages; never "exposed".
    expect(d).toMatchObject({ verdict: 'pass', passed: true, exposed: false });
    expect(d.vulnerability).toBeUndefined();
    expect(vulnerabilityStatus(tiny, 0.5)).toBeUndefined();
    // Even a (stale) rate beside a limitation is not read.
    expect(vulnerabilityStatus(assessment(0.001, ['x']), 0.01)).toBeUndefined();
    expect(vulnerabilityStatus(assessment(0.001), 0.01)).toBe('review');
    expect(vulnerabilityStatus(assessment(null), 0.01)).toBe('pass');
    expect(vulnerabilityStatus(undefined, 0.01)).toBe('pass');
    // The verdict still fails on the other stages' findings.
    const flagged = decidePolicy(policy, {
      integrity: unsigned,
      flagged: flags(10, 5),
      vulnerability: tiny,
    });
    expect(flagged).toMatchObject({ verdict: 'fail', passed: false });
  });

  it('the verdict is the worst stage status', () => {
    expect(worstVerdict()).toBe('pass');
    expect(worstVerdict('pass', 'review', 'pass')).toBe('review');
    expect(worstVerdict('review', 'fail', 'pass')).toBe('fail');
  });
});
