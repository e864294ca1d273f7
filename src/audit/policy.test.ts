import { describe, expect, it } from 'vitest';
import type { IntegrityFindings } from './integrity-check.js';
import { auditPolicySchema, backdoorExposed, decidePolicy, worstVerdict } from './policy.js';
import type { VulnerabilityAssessment } from './vulnerability.js';

const policy = auditPolicySchema.parse({});
const unsigned: IntegrityFindings = { records: 1000, signature: { present: false } };
const flags = (n: number, flagged: number) =>
  Uint8Array.from({ length: n }, (_, i) => (i < flagged ? 1 : 0));

function assessment(asr90Rate: number | null): VulnerabilityAssessment {
  return {
    trainRecords: 100,
    testRecords: 50,
    victim: { model: 'cnn', epochs: 1 },
    cleanAccuracy: 0.9,
    curves: [{ attack: 'backdoor', description: 'b', points: [], asr50Rate: null, asr90Rate }],
  };
}

describe('decidePolicy', () => {
  it('passes clean findings, warns on a few flagged records, fails on too many', () => {
    const clean = decidePolicy(policy, { integrity: unsigned, flagged: flags(1000, 0) });
    expect(clean).toMatchObject({ verdict: 'pass', passed: true, failures: [], scan: 'pass' });
    const few = decidePolicy(policy, { integrity: unsigned, flagged: flags(1000, 5) });
    expect(few).toMatchObject({ verdict: 'warn', passed: true, scan: 'warn', flagged: 5 });
    const many = decidePolicy(policy, { integrity: unsigned, flagged: flags(1000, 6) });
    expect(many).toMatchObject({ verdict: 'fail', passed: false, scan: 'fail' });
    expect(many.failures).toEqual([
      "the scan flagged 6 records (0.60%), more than the policy's 0.50%",
    ]);
    const lenient = decidePolicy(
      { ...policy, failOn: 'warn' },
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
    expect(exposed).toMatchObject({ verdict: 'warn', vulnerability: 'warn', exposed: true });
    expect(backdoorExposed(assessment(0.02), 0.01)).toBe(false);
    expect(backdoorExposed(assessment(null), 0.01)).toBe(false);
    expect(backdoorExposed(undefined, 0.01)).toBe(false);
  });

  it('the verdict is the worst stage status', () => {
    expect(worstVerdict()).toBe('pass');
    expect(worstVerdict('pass', 'warn', 'pass')).toBe('warn');
    expect(worstVerdict('warn', 'fail', 'pass')).toBe('fail');
  });
});
