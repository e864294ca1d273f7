import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runGate } from '../registry/gate.js';
import { loadGatePolicy } from '../registry/gate-policy.js';
import { ModelRegistry } from '../registry/model-registry.js';
import { buildScenario, type ScenarioFiles } from '../testing/scenario.js';
import { parseTokenTable } from './auth.js';
import { type RunningServer, startServer } from './start.js';

const CHROMIUM = '/usr/bin/chromium';
/** Screenshots land here (gitignored; CI keeps the folder as an artefact). */
const ARTIFACTS = fileURLToPath(new URL('../../test-results/dashboard/', import.meta.url));
/** The window widths every page must fit: a laptop and a phone. */
const WIDTHS = [1280, 390] as const;
const PAGES = [
  ['models', '/'],
  ['model', '/models/digits'],
  ['datasets', '/datasets'],
  ['alerts', '/alerts'],
  ['audit', '/audit'],
] as const;

/**
 * What sticks out of the window horizontally: the document's scroll width against the window
 * width, and the first visible elements whose box crosses either edge.
 */
const OVERFLOW = `(() => {
  const w = document.documentElement.clientWidth;
  const bad = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.right > w + 0.5 || r.left < -0.5) {
      bad.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + ' ' + Math.round(r.left) + '..' + Math.round(r.right));
    }
  }
  return { width: w, scrollWidth: document.documentElement.scrollWidth, bad: bad.slice(0, 8) };
})()`;

/** Opens every folded block (audit JSON, gate details), so that their content is checked too. */
const UNFOLD = `document.querySelectorAll('details').forEach((d) => { d.open = true; })`;

/** Loads `url` at `width` px, unfolds it, saves a full-page screenshot, returns its overflow. */
async function fitCheck(
  page: Page,
  url: string,
  width: number,
  shot: string,
): Promise<{ width: number; scrollWidth: number; bad: string[] }> {
  await page.setViewportSize({ width, height: 900 });
  await page.goto(url);
  await page.evaluate(UNFOLD);
  await page.screenshot({ path: join(ARTIFACTS, shot), fullPage: true });
  return page.evaluate(OVERFLOW);
}
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) {
  console.warn(
    `dashboard browser tests skipped: ${CHROMIUM} is absent (apt-get install -y chromium)`,
  );
}

/**
 * The dashboard in a real browser (playwright-core driving Debian's chromium, headless): every
 * page loads with no external request; promote, override and rollback buttons go through the
 * same token → principal → access-policy checks as the API and show up in the audit log.
 */
describe.skipIf(!HAVE_CHROMIUM)('dashboard in chromium', () => {
  let s: ScenarioFiles;
  let reg: ModelRegistry;
  let server: RunningServer;
  let browser: BrowserContext;
  let profile: string;

  /** The registry's clock: real time unless a test pins it. */
  let pinned: number | undefined;

  beforeAll(async () => {
    s = await buildScenario(await mkdtemp(join(tmpdir(), 'antidote-ui-')));
    reg = ModelRegistry.open(s.project, { now: () => new Date(pinned ?? Date.now()) });
    const v1 = (await reg.register(s.cleanDir, { name: 'digits' })).version;
    const v2 = (await reg.register(s.backdooredDir, { name: 'digits' })).version;
    const policy = (data: string) => ({
      version: 1,
      scan: { data, methods: ['ac'] },
      accuracy: { testSet: 'test-set', min: 0.9 },
    });
    await writeFile(join(s.root, 'gate-clean.json'), JSON.stringify(policy('train-clean')));
    await writeFile(join(s.root, 'gate-poisoned.json'), JSON.stringify(policy('train-poisoned')));
    expect(
      (await runGate(reg, v1.id, await loadGatePolicy(join(s.root, 'gate-clean.json')))).passed,
    ).toBe(true);
    expect(
      (await runGate(reg, v2.id, await loadGatePolicy(join(s.root, 'gate-poisoned.json')))).passed,
    ).toBe(false);
    reg.recordAlert({
      name: 'digits',
      versionId: v2.id,
      monitor: 'strip',
      severity: 'critical',
      message: 'STRIP rejected 90% of the last 20 inputs',
      value: 0.9,
      threshold: 0.3,
      details: {},
    });
    // The dashboard (#21): 13 alerts of one monitor in 3 s, a PSI of 9.36 beside rates,
    // 106 requests, a long alert message in the audit log; snapshots 0, 10 and 40 minutes apart.
    const t0 = Date.now() - 3_600_000;
    for (let i = 0; i < 13; i++) {
      pinned = t0 + i * 250;
      reg.recordAlert({
        name: 'digits',
        versionId: v2.id,
        monitor: 'input-drift',
        severity: 'warning',
        message: `input drift in feature group 3: PSI ${(9.36 - i / 10).toFixed(3)} > 0.25 ${'and KS far above its critical value '.repeat(i === 12 ? 8 : 0)}`,
        value: 9.36,
        threshold: 0.25,
        details: {},
      });
    }
    const snapshots = [
      [0, { requests: 50, records: 50, failed: 0, stripRejectRate: 0.1, predictionPsi: 0.05 }],
      [10, { requests: 80, records: 90, failed: 1, stripRejectRate: 0.2, inputPsiMax: 0.4 }],
      [40, { requests: 106, records: 140, failed: 2, stripRejectRate: 0.9, inputPsiMax: 9.36 }],
    ] as const;
    for (const [minutes, metrics] of snapshots) {
      pinned = t0 + minutes * 60_000;
      reg.recordSnapshot('digits', v2.id, metrics);
    }
    pinned = undefined;
    server = await startServer({ registry: reg, tokens: parseTokenTable(s.tokens), port: 0 });
    profile = await mkdtemp(join(tmpdir(), 'antidote-chromium-'));
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close(1000);
    reg?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
    if (s) await rm(s.root, { recursive: true, force: true });
  });

  it('loads every page without external requests', async () => {
    const page = await browser.newPage();
    const foreign: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(server.url) && !r.url().startsWith('data:')) foreign.push(r.url());
    });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    for (const [path, heading] of [
      ['/', 'Models'],
      ['/datasets', 'Datasets'],
      ['/alerts', 'Alerts'],
      ['/audit', 'Audit log'],
      ['/models/digits', 'Model digits'],
    ]) {
      const r = await page.goto(`${server.url}${path}`);
      expect(r?.status()).toBe(200);
      expect(await page.textContent('h1')).toBe(heading);
    }
    // The model page: versions with stages and gate results, scan example images, chart, alerts.
    expect(await page.locator('#versions tbody tr').count()).toBe(2);
    expect(await page.textContent('#versions')).toContain('failed');
    // Lineage: v1 → its training set, a committed catalogue version.
    expect(await page.textContent('#versions')).toContain('→ train-clean@1');
    expect(await page.locator('details.gate img[alt^="flagged record"]').count()).toBeGreaterThan(
      0,
    );
    expect(await page.locator('#monitor-chart polyline').count()).toBeGreaterThan(0);
    // One panel per kind of metric (PSI apart from the rates), integer counts.
    expect(await page.locator('#monitor-chart .panel').count()).toBe(3);
    expect(await page.textContent('#monitor-summary')).toMatch(/requests=106,/);
    // 13 drift alerts in 3 s: one row ×13, plus the STRIP alert.
    expect(await page.locator('#alerts tbody tr').count()).toBe(2);
    expect(await page.textContent('#alerts')).toContain('×13');
    expect(await page.textContent('#alerts')).toContain('STRIP rejected 90%');
    await page.goto(`${server.url}/audit`);
    expect(await page.textContent('#chain')).toMatch(/hash chain verified/);
    expect(foreign).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('promotes, overrides and rolls back through the permission checks', async () => {
    const page = await browser.newPage();
    const dialogs: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.accept(d.message().includes('rollback') ? 'operator rollback' : 'browser override');
    });
    const production = () => page.textContent('#production', { timeout: 2000 }).catch(() => '');
    await page.goto(`${server.url}/models/digits`);
    // Without a token the API refuses; the toast says why.
    await page.click('button[data-action="promote"][data-version="digits@1"]');
    await expect.poll(() => page.textContent('#toast')).toMatch(/missing or unknown API token/);
    // With alice's token: promote v1 (gate passed).
    await page.fill('#token', s.token);
    await page.dispatchEvent('#token', 'change');
    await page.click('button[data-action="promote"][data-version="digits@1"]');
    await expect.poll(production, { timeout: 10_000 }).toBe('digits@1');
    // v2 failed the gate: plain promote refused, override with a reason goes through.
    await page.click('button[data-action="promote"][data-version="digits@2"]');
    await expect.poll(() => page.textContent('#toast')).toMatch(/did not pass the gate/);
    await page.click('button[data-action="override"][data-version="digits@2"]');
    await expect.poll(production, { timeout: 10_000 }).toBe('digits@2');
    // Roll back: v1 is production again, the history shows it.
    await page.click('button[data-action="rollback"]');
    await expect.poll(production, { timeout: 10_000 }).toBe('digits@1');
    expect(await page.textContent('#transitions')).toContain('operator rollback');
    expect(dialogs.length).toBe(2);
    await page.goto(`${server.url}/audit`);
    const audit = await page.textContent('#audit');
    expect(audit).toContain('model.promote.override');
    expect(audit).toContain('model.rollback');
    expect(audit).toContain('authz.model:promote');
    expect(await page.textContent('#chain')).toMatch(/hash chain verified/);
    expect(reg.production('digits')?.id).toBe('digits@1');
    await page.close();
  });
  it('fits a 1280 px and a 390 px window: nothing overflows; screenshots kept', async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    const page = await browser.newPage();
    const report: string[] = [];
    for (const width of WIDTHS) {
      for (const [name, path] of PAGES) {
        const r = await fitCheck(page, `${server.url}${path}`, width, `${name}-${width}.png`);
        report.push(`${name}@${width}: scrollWidth ${r.scrollWidth}`);
        expect(r.bad, `${name} at ${width} px`).toEqual([]);
        expect(r.scrollWidth, `${name} at ${width} px`).toBeLessThanOrEqual(width);
      }
    }
    console.info(`dashboard layout: ${report.join(', ')}; screenshots in ${ARTIFACTS}`);
    expect(existsSync(join(ARTIFACTS, 'audit-390.png'))).toBe(true);
    await page.close();
  });

  it('a read-only server shows no actions and refuses them', async () => {
    const ro = await startServer({ registry: reg, port: 0 });
    try {
      const page = await browser.newPage();
      await page.goto(`${ro.url}/models/digits`);
      expect(await page.textContent('#production')).not.toBe('none');
      expect(await page.locator('button[data-action]').count()).toBe(0);
      expect(await page.locator('#token').count()).toBe(0);
      expect(await page.textContent('header')).toContain('read-only server');
      const r = await fetch(`${ro.url}/api/models/digits/rollback`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${s.token}` },
        body: JSON.stringify({ reason: 'x' }),
      });
      expect(r.status).toBe(403);
      expect(((await r.json()) as { error: { message: string } }).error.message).toMatch(
        /accepts no changes/,
      );
      await page.close();
    } finally {
      await ro.close(1000);
    }
  });
});
