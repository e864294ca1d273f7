import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasChromium, launchChromium } from '../testing/browser.js';
import type { AuditReport } from './audit-report.js';
import { barChartSvg, lineChartSvg, scatterChartSvg } from './charts.js';
import { escapeHtml, renderAuditHtml } from './html.js';
import { renderImageGrid } from './image-grid.js';

function sampleReport(): AuditReport {
  const img = new Float32Array(64).map((_, i) => (i % 9) / 8);
  const png = Buffer.from(
    renderImageGrid([[{ data: img, shape: [8, 8, 1] }]], { scale: 4 }),
  ).toString('base64');
  return {
    schema: 'antidote-audit/v1',
    title: 'Audit <of> "data"',
    subject: { dataset: 'digits & friends', model: 'cnn' },
    verdict: 'review',
    reason: 'One detector <b>flagged</b> records.',
    headline: 'Something <script>alert(1)</script> was found.',
    run: {
      date: '2026-01-02T03:04:05.000Z',
      tool: 'antidote',
      version: '0.0.0-test',
      operator: 'o<p>',
      inputs: [{ role: 'dataset', path: 'data/digits', digest: `sha256:${'ab'.repeat(32)}` }],
    },
    sections: [
      {
        id: 'summary',
        title: 'Summary',
        status: 'review',
        paragraphs: ['First paragraph.'],
        metrics: [
          { label: 'accuracy', value: 0.9812, percent: true },
          { label: 'flagged', value: 42 },
          { label: 'missing', value: null },
        ],
      },
      {
        id: 'charts',
        title: 'Charts',
        tables: [
          {
            caption: 'A table',
            columns: ['a', 'b'],
            rows: [
              ['x', 1],
              ['y <b>', null],
            ],
          },
        ],
        charts: [
          {
            svg: lineChartSvg(
              [
                {
                  name: 'ASR',
                  points: [
                    [0.1, 20],
                    [1, 95],
                  ],
                },
              ],
              { x: 'rate', y: '%' },
              { title: 'line' },
            ),
            description: 'a line chart',
          },
          {
            svg: scatterChartSvg(
              [
                {
                  name: 'kept',
                  points: [
                    [0, 1],
                    [1, 0],
                  ],
                },
              ],
              { x: 'PC 1', y: 'PC 2' },
              { title: 'scatter' },
            ),
            description: 'a scatter chart',
          },
          {
            svg: barChartSvg(
              ['a', 'b'],
              [{ name: 'acc', values: [90, 80] }],
              { y: '%' },
              { title: 'bars' },
            ),
            description: 'a bar chart',
          },
        ],
        images: [{ pngBase64: png, alt: 'a test image', caption: 'record 1' }],
      },
      { id: 'recs', title: 'Recommendations', bullets: ['Do this.', 'And <that>.'] },
    ],
    data: {},
    generator: { antidote: 'test', seed: 1 },
  };
}

describe('renderAuditHtml', () => {
  it('escapes every string from the report and needs nothing from outside the file', () => {
    const html = renderAuditHtml(sampleReport());
    expect(html).not.toContain('<script>');
    expect(html).toContain('&lt;script&gt;');
    expect(html).toContain('Audit &lt;of&gt; &quot;data&quot;');
    expect(html).toContain('y &lt;b&gt;');
    expect(html).not.toMatch(/(src|href)="https?:/);
    expect(html).toContain("default-src 'none'");
    expect((html.match(/<svg/g) ?? []).length).toBe(3);
    expect(html).toContain('<caption>A table</caption>');
    expect(html).toContain('alt="a test image"');
    expect(html).toContain('98.12%');
    expect(html).toContain('o&lt;p&gt;');
    expect(html).toContain('One detector &lt;b&gt;flagged&lt;/b&gt; records.');
  });

  it('shows the verdict and its reason first, then date, tool version, operator and digests', () => {
    const html = renderAuditHtml(sampleReport());
    const at = (s: string) => {
      const i = html.indexOf(s);
      expect(i, s).toBeGreaterThan(0);
      return i;
    };
    const verdict = at('<p class="verdict-word">REVIEW</p>');
    expect(verdict).toBeLessThan(at('One detector'));
    expect(at('One detector')).toBeLessThan(at('2026-01-02T03:04:05.000Z'));
    expect(at('antidote 0.0.0-test')).toBeLessThan(at('<nav'));
    expect(at(`sha256:${'ab'.repeat(32)}`)).toBeLessThan(at('<nav'));
    // The first badge and the verdict block say the same thing as the summary section.
    expect(html.indexOf('class="badge badge-review"')).toBeGreaterThan(verdict);
    expect(html).not.toMatch(/class="badge badge-(pass|fail)"/);
  });

  it('escapeHtml covers the five special characters', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe(
      '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;',
    );
  });

  it.skipIf(!hasChromium)(
    'loads in headless chromium with no console errors or requests; every chart renders',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'antidote-report-'));
      const file = join(dir, 'report.html');
      writeFileSync(file, renderAuditHtml(sampleReport()));
      const browser = await launchChromium();
      try {
        const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
        const errors: string[] = [];
        const requests: string[] = [];
        page.on('console', (m) => {
          if (m.type() === 'error') errors.push(m.text());
        });
        page.on('pageerror', (e) => errors.push(e.message));
        page.on('request', (r) => {
          if (!r.url().startsWith('file:') && !r.url().startsWith('data:')) requests.push(r.url());
        });
        await page.goto(`file://${file}`);
        expect(errors).toEqual([]);
        expect(requests).toEqual([]);
        const charts = page.locator('figure.chart svg');
        expect(await charts.count()).toBe(3);
        for (let i = 0; i < 3; i++) {
          const box = await charts.nth(i).boundingBox();
          expect(box!.width).toBeGreaterThan(100);
          expect(box!.height).toBeGreaterThan(100);
          expect(await charts.nth(i).locator('path, circle, rect').count()).toBeGreaterThan(3);
        }
        const img = page.locator('figure.thumb img');
        expect(
          await img.evaluate((el) => (el as unknown as { naturalWidth: number }).naturalWidth),
        ).toBe(8 * 4 + 2 * 2);
        expect(await page.locator('h2').count()).toBe(3);
        const shots = join(process.cwd(), 'test-results');
        mkdirSync(shots, { recursive: true });
        await page.screenshot({ path: join(shots, 'report.png'), fullPage: true });
      } finally {
        await browser.close();
      }
    },
  );
});
