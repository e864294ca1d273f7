import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderAuditHtml } from '../report/html.js';
import { hasChromium, launchChromium } from '../testing/browser.js';
import { REPO_ROOT } from '../testing/import-graph.js';
import { buildReport } from './report-builder.js';
import { projectionChart, vulnerabilityCharts } from './report-figures.js';
import { reportRun } from './report-run.js';
import { recommendationsSection, summarySection } from './report-sections.js';
import type { VulnerabilityAssessment } from './vulnerability.js';

if (!hasChromium) console.warn('report browser tests skipped: /usr/bin/chromium is absent');

/** Where the screenshots go: a gitignored folder CI keeps as an artefact. */
const SHOTS = join(REPO_ROOT, 'test-results', 'report');

/** A vulnerability assessment over 0.1–10% poison (the range a linear axis squashes). */
const assessment: VulnerabilityAssessment = {
  trainRecords: 2000,
  testRecords: 500,
  victim: { model: 'cnn', epochs: 1 },
  cleanAccuracy: 0.97,
  minClassRecords: 180,
  limitations: [],
  curves: [
    {
      attack: 'backdoor',
      description:
        'Bright-square backdoor, all-to-one to class 0, on a victim trained like the audited model (a long title that must not run into the legend)',
      baseline: { rate: 0, poisoned: 0, accuracy: 0.97, attackSuccessRate: 0.02 },
      points: [0.001, 0.003, 0.01, 0.03, 0.1].map((rate, i) => ({
        rate,
        poisoned: Math.round(rate * 2000),
        accuracy: 0.97 - i * 0.004,
        attackSuccessRate: [0.05, 0.4, 0.93, 0.99, 1][i]!,
      })),
      asr50Rate: 0.004,
      asr90Rate: 0.0095,
    },
  ],
};

function report() {
  const n = 60;
  const dim = 4;
  const reps = new Float32Array(n * dim).map((_, i) => Math.sin(i * 1.7) + (i % 7) / 3);
  const flagged = new Uint8Array(n).map((_, i) => (i % 6 === 0 ? 1 : 0));
  const projection = projectionChart(
    {
      x: new Float32Array(n),
      shape: [n, 1],
      y: new Int32Array(n),
      classes: ['zero'],
      ids: Array.from({ length: n }, (_, i) => `r${i}`),
    },
    { flagged } as never,
    { data: reps, dim },
    0,
    1,
  )!;
  return buildReport({
    title: 'Poisoning audit of digits',
    subject: { dataset: 'data/digits (60 records)' },
    headline: 'The scan says REVIEW.',
    reasons: { scan: 'One detector has a strong finding the others do not confirm.' },
    run: reportRun([], { clock: () => new Date(Date.UTC(2026, 11, 6)), operator: 'ci' }),
    sections: [
      summarySection(['No policy failure.'], [{ label: 'Records', value: n }]),
      {
        id: 'scan',
        title: 'Scan findings',
        status: 'review',
        paragraphs: ['Findings.'],
        charts: [projection],
      },
      {
        id: 'vulnerability',
        title: 'Vulnerability',
        status: 'pass',
        charts: vulnerabilityCharts(assessment),
      },
      recommendationsSection(['Keep scanning.']),
    ],
    data: {},
    seed: 1,
    backend: 'cpu',
  });
}

interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

const overlap = (a: Box, b: Box): boolean =>
  a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

/**
 * The report in headless chromium at a desktop and a phone width: each chart's title, legend and
 * plot are laid out apart (their boxes do not intersect), the plot takes the full content width,
 * nothing overflows the window, and the poison-rate axis is logarithmic (decade ticks 0.1, 1,
 * 10). Screenshots go to test-results/report/.
 */
describe.skipIf(!hasChromium)('the audit report in chromium', () => {
  it('lays out charts full width with titles, legends and plots apart, at 1280 and 390 px', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'antidote-report-layout-'));
    const file = join(dir, 'report.html');
    writeFileSync(file, renderAuditHtml(report()));
    mkdirSync(SHOTS, { recursive: true });
    const browser = await launchChromium();
    try {
      for (const width of [1280, 390]) {
        const page = await browser.newPage({ viewport: { width, height: 900 } });
        await page.goto(`file://${file}`);
        const figures = page.locator('figure.chart');
        expect(await figures.count()).toBe(2);
        // The content width of <main> (its width less its padding), in the page.
        const content = (await page.evaluate(
          `(() => { const m = document.querySelector('main'); const s = getComputedStyle(m);
            return m.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight); })()`,
        )) as number;
        for (let i = 0; i < 2; i++) {
          const f = figures.nth(i);
          const title = (await f.locator('.chart-title').boundingBox())!;
          const legend = (await f.locator('.chart-legend').boundingBox())!;
          const plot = (await f.locator('.chart-plot svg').boundingBox())!;
          const where = `chart ${i} at ${width} px`;
          expect(overlap(title, legend), `${where}: title over legend`).toBe(false);
          expect(overlap(title, plot), `${where}: title over plot`).toBe(false);
          expect(overlap(legend, plot), `${where}: legend over plot`).toBe(false);
          expect(plot.width, `${where}: plot width`).toBeGreaterThanOrEqual(content - 1);
        }
        const { scrollWidth, innerWidth } = (await page.evaluate(
          '({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth })',
        )) as { scrollWidth: number; innerWidth: number };
        expect(scrollWidth, `horizontal overflow at ${width} px`).toBeLessThanOrEqual(innerWidth);
        const ticks = await figures
          .nth(1)
          .locator('svg text')
          .evaluateAll((els) => els.map((e) => e.textContent ?? ''));
        expect(ticks).toEqual(expect.arrayContaining(['0.1', '1', '10']));
        // The verdict comes first on the page.
        const verdict = (await page.locator('.verdict').boundingBox())!;
        const nav = (await page.locator('nav').boundingBox())!;
        expect(verdict.y).toBeLessThan(nav.y);
        await page.screenshot({ path: join(SHOTS, `report-${width}.png`), fullPage: true });
        await page.close();
      }
    } finally {
      await browser.close();
    }
  }, 60_000);
});
