import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runGate } from '../registry/gate.js';
import { loadGatePolicy } from '../registry/gate-policy.js';
import { ModelRegistry } from '../registry/model-registry.js';
import { buildScenario, type ScenarioFiles } from '../testing/scenario.js';
import { parseTokenTable } from './auth.js';
import { type RunningServer, startServer } from './start.js';

const CHROMIUM = '/usr/bin/chromium';
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

  beforeAll(async () => {
    s = await buildScenario(await mkdtemp(join(tmpdir(), 'antidote-ui-')));
    reg = ModelRegistry.open(s.project);
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
    reg.recordSnapshot('digits', v2.id, { stripRejectRate: 0.1, predictionPsi: 0.05 });
    reg.recordSnapshot('digits', v2.id, { stripRejectRate: 0.9, predictionPsi: 0.4 });
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
});
