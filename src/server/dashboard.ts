import { encodePng } from '../data/png.js';
import type { AuditEntry } from '../integrity/audit-log.js';
import type { VersionRecord } from '../integrity/versioning.js';
import type {
  Alert,
  ModelVersion,
  MonitorSnapshot,
  StageTransition,
  StoredGateResult,
} from '../registry/model-registry.js';
import { groupAlerts } from './alert-groups.js';
import { esc } from './escape.js';
import { monitorChart } from './monitor-chart.js';

export { esc } from './escape.js';
export { monitorChart } from './monitor-chart.js';

/**
 * Server-rendered dashboard pages: plain HTML with one local stylesheet and one small local
 * script (`/assets/app.js`, the promote and rollback buttons). No external requests: charts are
 * inline SVG (`monitor-chart.ts`), example images are inline PNG data URIs. The layout fits the
 * window from phone width up (tables become stacked cards below 700 px; long values wrap).
 */

/** How a page is shown. */
export interface DashboardView {
  /**
   * The server accepts no changes (started without a token file): no token box and no promote,
   * override or rollback buttons (the API refuses them anyway).
   */
  readonly readOnly?: boolean;
}

const NAV: [string, string][] = [
  ['/', 'Models'],
  ['/datasets', 'Datasets'],
  ['/alerts', 'Alerts'],
  ['/audit', 'Audit log'],
];

/** The page frame: title, navigation, token box for actions (none when read-only). */
export function page(title: string, body: string, view: DashboardView = {}): string {
  const token = view.readOnly
    ? '<span class="token readonly" id="read-only">read-only server</span>'
    : '<label class="token">API token <input id="token" type="password" autocomplete="off" placeholder="for promote / rollback"></label>';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} · Antidote</title><link rel="stylesheet" href="/assets/app.css"></head>
<body><header><strong>Antidote</strong><nav>${NAV.map(([h, t]) => `<a href="${h}">${t}</a>`).join('')}</nav>
${token}</header>
<main><h1>${esc(title)}</h1>${body}</main><div id="toast" role="status" aria-live="polite"></div>
<script src="/assets/app.js"></script></body></html>`;
}

/** A table; each cell carries its column name (`data-label`) for the stacked phone layout. */
function table(head: string[], rows: string[][], id?: string): string {
  if (rows.length === 0) return '<p class="empty">nothing yet</p>';
  return `<table${id ? ` id="${esc(id)}"` : ''}><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map(
      (r) =>
        `<tr>${r.map((c, i) => `<td data-label="${esc(head[i] ?? '')}">${c}</td>`).join('')}</tr>`,
    )
    .join('')}</tbody></table>`;
}

function stageBadge(stage: string): string {
  return `<span class="stage stage-${esc(stage)}">${esc(stage)}</span>`;
}

/** Overview: every model with its production version and latest version. */
export function modelsPage(
  models: { name: string; versions: number; production?: string; latest: string }[],
  alerts: Alert[],
  view: DashboardView = {},
): string {
  const rows = models.map((m) => [
    `<a href="/models/${encodeURIComponent(m.name)}">${esc(m.name)}</a>`,
    String(m.versions),
    m.production ? `<span class="prod">${esc(m.production)}</span>` : '<em>none</em>',
    esc(m.latest),
  ]);
  return page(
    'Models',
    `${table(['model', 'versions', 'production', 'latest'], rows, 'models')}
<h2>Recent alerts</h2>${alertsTable(alerts, 10)}`,
    view,
  );
}

function gateCell(g: StoredGateResult | undefined): string {
  if (!g) return '<span class="muted">not run</span>';
  return g.passed ? '<span class="pass">passed</span>' : '<span class="fail">failed</span>';
}

/** Renders grey or RGB pixels (0–255, HWC) as a PNG data URI, scaled up `scale` times. */
export function pngDataUri(pixels: readonly number[], shape: readonly number[], scale = 4): string {
  // Stored examples are HWC; a missing channel count means grey.
  const [h = 0, w = 0, c = 1] = shape;
  const data = new Uint8Array(w * scale * h * scale * 4);
  for (let y = 0; y < h * scale; y++) {
    for (let x = 0; x < w * scale; x++) {
      const src = (Math.floor(y / scale) * w + Math.floor(x / scale)) * c;
      const o = (y * w * scale + x) * 4;
      data[o] = pixels[src] ?? 0;
      data[o + 1] = pixels[src + (c === 3 ? 1 : 0)] ?? 0;
      data[o + 2] = pixels[src + (c === 3 ? 2 : 0)] ?? 0;
      data[o + 3] = 255;
    }
  }
  const png = encodePng({ width: w * scale, height: h * scale, data });
  return `data:image/png;base64,${Buffer.from(png).toString('base64')}`;
}

interface CheckJson {
  name: string;
  passed: boolean;
  reason: string;
  details?: { methods?: Record<string, { examples?: unknown }> };
}

function gateDetails(g: StoredGateResult): string {
  const r = g.result as { checks?: CheckJson[] } | null;
  const checks = r?.checks ?? [];
  const items = checks
    .map((c) => {
      let examples = '';
      for (const [method, d] of Object.entries(c.details?.methods ?? {})) {
        const ex = Array.isArray(d.examples)
          ? (d.examples as { id: string; label: string; shape?: number[]; pixels?: number[] }[])
          : [];
        const imgs = ex
          .filter((e) => e.pixels && e.shape)
          .map(
            (e) =>
              `<figure><img alt="flagged record ${esc(e.id)}" src="${pngDataUri(e.pixels!, e.shape!)}"><figcaption>${esc(e.id)} (${esc(e.label)})</figcaption></figure>`,
          )
          .join('');
        if (imgs)
          examples += `<div class="examples" data-method="${esc(method)}">${esc(method)}: ${imgs}</div>`;
      }
      return `<li class="${c.passed ? 'pass' : 'fail'}"><b>${esc(c.name)}</b> ${c.passed ? 'PASS' : 'FAIL'}: ${esc(c.reason)}${examples}</li>`;
    })
    .join('');
  return `<details class="gate" data-version="${esc(g.versionId)}"><summary>${esc(g.versionId)} · ${g.passed ? 'passed' : 'failed'} · ${esc(g.at)}</summary><ul>${items}</ul></details>`;
}

/** One model: versions with stage, gate, signature, lineage; actions; gate details; chart. */
export function modelPage(
  name: string,
  versions: ModelVersion[],
  gates: Map<string, StoredGateResult | undefined>,
  allGates: StoredGateResult[],
  transitions: StageTransition[],
  alerts: Alert[],
  snaps: MonitorSnapshot[],
  served: string | undefined,
  catalogued: ReadonlyMap<string, string> = new Map(),
  view: DashboardView = {},
): string {
  const rows = versions.map((v) => {
    const datasets = v.info.lineage
      ? v.info.lineage.datasets
          .map((d) => {
            const cat = catalogued.get(d.rootDigest);
            return `${esc(d.version ?? d.name)} <code>${esc(d.rootDigest.slice(0, 12))}</code>${cat ? ` → <a href="/datasets#${esc(cat)}">${esc(cat)}</a>` : ' <span class="muted">(not in catalogue)</span>'}`;
          })
          .join('<br>')
      : '<span class="muted">no provenance</span>';
    const actions =
      view.readOnly || v.stage === 'production' || v.stage === 'archived'
        ? ''
        : `<button data-action="promote" data-model="${esc(name)}" data-version="${esc(v.id)}">promote</button>
<button data-action="override" data-model="${esc(name)}" data-version="${esc(v.id)}">override…</button>`;
    return [
      esc(v.id),
      stageBadge(v.stage),
      gateCell(gates.get(v.id)),
      v.info.signed ? 'yes' : 'no',
      datasets,
      `<code>${esc(v.rootDigest.slice(0, 12))}</code>`,
      esc(v.registeredAt),
      actions,
    ];
  });
  const trows = transitions
    .slice(-50)
    .reverse()
    .map((t) => [
      esc(t.at),
      esc(t.versionId),
      `${esc(t.from ?? '—')} → ${stageBadge(t.to)}`,
      esc(t.kind),
      esc(t.actor.slice(0, 24)),
      esc(t.reason ?? ''),
    ]);
  const prod = versions.find((v) => v.stage === 'production');
  return page(
    `Model ${name}`,
    `<p>Production: <span id="production">${prod ? esc(prod.id) : 'none'}</span>${served ? ` · served by this server: <span id="served">${esc(served)}</span>` : ''}
${prod && !view.readOnly ? ` <button data-action="rollback" data-model="${esc(name)}">roll back</button>` : ''}</p>
${table(['version', 'stage', 'gate', 'signed', 'lineage (datasets)', 'root digest', 'registered', ''], rows, 'versions')}
<h2>Monitoring</h2>${monitorChart(snaps)}
<h2>Gate results</h2>${allGates.length ? allGates.map(gateDetails).join('') : '<p class="empty">no gate runs</p>'}
<h2>Alerts</h2>${alertsTable(alerts)}
<h2>Stage history</h2>${table(['time', 'version', 'change', 'kind', 'actor', 'reason'], trows, 'transitions')}`,
    view,
  );
}

/**
 * Alerts de-duplicated (`groupAlerts`): one row per burst of one monitor on one version, with
 * its count, first and last time and latest message; at most `limit` rows.
 */
function alertsTable(alerts: Alert[], limit = Number.POSITIVE_INFINITY): string {
  return table(
    ['last seen', 'model', 'monitor', 'severity', 'count', 'first seen', 'latest message'],
    groupAlerts(alerts)
      .slice(0, limit)
      .map((g) => [
        esc(g.lastSeen),
        esc(g.versionId ?? g.name),
        esc(g.monitor),
        `<span class="sev-${esc(g.severity)}">${esc(g.severity)}</span>`,
        `<span class="count">×${g.count}</span>`,
        esc(g.firstSeen),
        esc(g.latest.message),
      ]),
    'alerts',
  );
}

/** Every alert, de-duplicated. */
export function alertsPage(alerts: Alert[], view: DashboardView = {}): string {
  return page('Alerts', alertsTable(alerts), view);
}

/** Catalogue dataset versions. */
export function datasetsPage(versions: VersionRecord[], view: DashboardView = {}): string {
  return page(
    'Datasets',
    table(
      ['version', 'records', 'root digest', 'records root', 'message', 'committed'],
      versions.map((v) => [
        `<span id="${esc(v.id)}">${esc(v.id)}</span>`,
        esc(v.recordCount ?? ''),
        `<code>${esc(v.rootDigest.slice(0, 12))}</code>`,
        `<code>${esc((v.recordsRoot ?? '').slice(0, 12))}</code>`,
        esc(v.message),
        esc(v.createdAt),
      ]),
      'datasets',
    ),
    view,
  );
}

/** The audit log (newest first) with the chain's verification status. */
export function auditPage(
  entries: AuditEntry[],
  verification: { ok: boolean; entries: number; reason?: string },
  view: DashboardView = {},
): string {
  const status = verification.ok
    ? `<p id="chain" class="pass">hash chain verified: ${verification.entries} entries</p>`
    : `<p id="chain" class="fail">hash chain BROKEN: ${esc(verification.reason)}</p>`;
  return page(
    'Audit log',
    `${status}${table(
      ['#', 'time', 'actor', 'action', 'subject', 'outcome', 'details'],
      entries
        .slice()
        .reverse()
        .slice(0, 500)
        .map((e) => [
          String(e.seq),
          esc(e.time),
          esc(e.actor.slice(0, 24)),
          esc(e.action),
          esc(e.subject ?? ''),
          esc(e.outcome ?? ''),
          detailsCell(e.details ?? {}),
        ]),
      'audit',
    )}`,
    view,
  );
}

/**
 * An audit entry's details: short JSON inline; longer JSON whole (never cut), folded under its
 * first characters and wrapped to the column's width.
 */
function detailsCell(details: unknown): string {
  const json = JSON.stringify(details);
  if (json.length <= 80) return `<code>${esc(json)}</code>`;
  return `<details class="json"><summary><code>${esc(json.slice(0, 60))}…</code></summary><pre>${esc(JSON.stringify(details, null, 1))}</pre></details>`;
}
