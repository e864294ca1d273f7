import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasChromium, launchChromium } from '../testing/browser.js';
import { runDemo } from './demo.js';

const small = {
  trainRecords: 600,
  testRecords: 300,
  epochs: 1,
  rate: 0.05,
} as const;

describe('runDemo (small MNIST subset)', () => {
  it('attacks, scans, mitigates, signs and writes a self-contained report', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'antidote-demo-')), 'demo');
    const r = await runDemo({
      ...small,
      outDir: out,
      seed: 3,
      vulnerability: { records: 300, epochs: 1, backdoorRates: [0.05], flipRates: [0.2] },
    });
    for (const p of [
      'report.html',
      'report.json',
      'data/poisoned/dataset.json',
      'data/cleaned/antidote.sig',
      'models/mitigated/antidote.sig',
      'models/mitigated/antidote.provenance.json',
      'keys/demo.key',
      '.antidote/catalogue.db',
    ]) {
      expect(existsSync(join(out, p)), p).toBe(true);
    }
    expect(r.reportHtml).toBe(join(out, 'report.html'));
    const json = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    const gate = json.data.gate as {
      passed: boolean;
      checks: { name: string; passed: boolean }[];
      promoted?: string;
    };
    expect(gate.checks.map((c) => c.name)).toEqual([
      'signature',
      'dataset',
      'scan',
      'accuracy',
      'backdoor-probe',
    ]);
    expect(gate.checks.find((c) => c.name === 'signature')?.passed).toBe(true);
    expect(gate.checks.find((c) => c.name === 'dataset')?.passed).toBe(true);
    expect(gate.passed).toBe(gate.checks.every((c) => c.passed));
    expect(gate.promoted !== undefined).toBe(gate.passed);
    expect(json.schema).toBe('antidote-audit/v1');
    expect(json.data.poisonedCount).toBe(30);
    expect(json.data.integrity.signedData.ok).toBe(true);
    expect(json.data.integrity.signedModel.ok).toBe(true);
    expect(json.data.integrity.labelChanges).toBeGreaterThan(0);
    expect(json.data.detection.merged.tp + json.data.detection.merged.fn).toBe(30);
    expect(json.data.vulnerability.curves.map((c: { attack: string }) => c.attack)).toEqual([
      'backdoor',
      'label-flip',
    ]);
    expect(json.sections.map((s: { id: string }) => s.id)).toEqual([
      'summary',
      'integrity',
      'scan',
      'vulnerability',
      'mitigation',
      'gate',
      'lineage',
      'recommendations',
    ]);
    // The verdict at the top agrees with every section: it is the worst of their statuses.
    const rank: Record<string, number> = { pass: 0, review: 1, fail: 2 };
    const worst = Math.max(
      0,
      ...json.sections
        .filter((s: { id: string; status?: string }) => s.id !== 'summary' && s.status)
        .map((s: { status: string }) => rank[s.status] ?? 0),
    );
    expect(rank[json.verdict]).toBe(worst);
    expect(json.sections[0].status).toBe(json.verdict);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).toContain('<svg');
    expect(html).toContain('data:image/png;base64,');
    expect(html).not.toMatch(/(src|href)="https?:/);

    if (!hasChromium) return;
    mkdirSync(join(process.cwd(), 'test-results'), { recursive: true });
    // The real report in a real browser: no console errors, no requests, every chart drawn.
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(m.text());
      });
      page.on('pageerror', (e) => problems.push(e.message));
      page.on('request', (req) => {
        if (!req.url().startsWith('file:') && !req.url().startsWith('data:'))
          problems.push(req.url());
      });
      await page.goto(`file://${join(out, 'report.html')}`);
      expect(problems).toEqual([]);
      const charts = page.locator('figure.chart svg');
      expect(await charts.count()).toBeGreaterThanOrEqual(3);
      for (let i = 0; i < (await charts.count()); i++) {
        expect((await charts.nth(i).boundingBox())!.height).toBeGreaterThan(100);
      }
      expect(await page.locator('figure.thumb img').count()).toBeGreaterThan(2);
      await page.screenshot({
        path: join(process.cwd(), 'test-results', 'demo-report.png'),
        fullPage: true,
      });
    } finally {
      await browser.close();
    }
  });

  it('is reproducible: the same seed gives the same numbers', async () => {
    const base = mkdtempSync(join(tmpdir(), 'antidote-demo-'));
    const run = (name: string) =>
      runDemo({
        ...small,
        trainRecords: 400,
        outDir: join(base, name),
        seed: 5,
        vulnerability: false,
      });
    const a = await run('a');
    const b = await run('b');
    const pick = (d: Record<string, unknown>) => ({
      scores: d.scores,
      detection: d.detection,
      dropped: d.dropped,
      der: d.der,
    });
    expect(pick(a.report.data)).toEqual(pick(b.report.data));
    expect(a.report.headline).toBe(b.report.headline);
  });

  it('refuses bad options before writing anything', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'antidote-demo-')), 'demo');
    await expect(runDemo({ outDir: out, rate: 1.5 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(runDemo({ outDir: out, trainRecords: 10 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    expect(existsSync(out)).toBe(false);
  });
});
