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

/**
 * Server-rendered dashboard pages: plain HTML with one local stylesheet and one small local
 * script (`/assets/app.js`, the promote and rollback buttons). No external requests: charts are
 * inline SVG drawn here, example images are inline PNG data URIs.
 */

/** Escapes text for HTML element content and attribute values. */
export function esc(v: unknown): string {
  return String(v ?? '')
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

const NAV: [string, string][] = [
  ['/', 'Models'],
  ['/datasets', 'Datasets'],
  ['/alerts', 'Alerts'],
  ['/audit', 'Audit log'],
];

/** The page frame: title, navigation, token box for actions. */
export function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} · Antidote</title><link rel="stylesheet" href="/assets/app.css"></head>
<body><header><strong>Antidote</strong><nav>${NAV.map(([h, t]) => `<a href="${h}">${t}</a>`).join('')}</nav>
<label class="token">API token <input id="token" type="password" autocomplete="off" placeholder="for promote / rollback"></label></header>
<main><h1>${esc(title)}</h1>${body}</main><div id="toast" role="status" aria-live="polite"></div>
<script src="/assets/app.js"></script></body></html>`;
}

function table(head: string[], rows: string[][], id?: string): string {
  if (rows.length === 0) return '<p class="empty">nothing yet</p>';
  return `<table${id ? ` id="${esc(id)}"` : ''}><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

function stageBadge(stage: string): string {
  return `<span class="stage stage-${esc(stage)}">${esc(stage)}</span>`;
}

/** Overview: every model with its production version and latest version. */
export function modelsPage(
  models: { name: string; versions: number; production?: string; latest: string }[],
  alerts: Alert[],
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
<h2>Recent alerts</h2>${alertsTable(alerts.slice(0, 10))}`,
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

const SERIES: [string, string][] = [
  ['stripRejectRate', '#c0392b'],
  ['predictionPsi', '#2874a6'],
  ['inputPsiMax', '#7d3c98'],
  ['errorRate', '#b9770e'],
];

/** An inline SVG line chart of monitor snapshots over time. */
export function monitorChart(snaps: MonitorSnapshot[]): string {
  if (snaps.length === 0) return '<p class="empty">no monitoring data yet</p>';
  const first = snaps[0]!;
  const last = snaps[snaps.length - 1]!;
  const W = 640;
  const H = 200;
  const P = 30;
  let max = 0;
  for (const s of snaps) for (const [k] of SERIES) max = Math.max(max, s.metrics[k] ?? 0);
  max = max > 0 ? max : 1;
  const x = (i: number) => P + (snaps.length === 1 ? 0 : (i * (W - 2 * P)) / (snaps.length - 1));
  const y = (v: number) => H - P - (v / max) * (H - 2 * P);
  const lines = SERIES.map(([k, color]) => {
    const pts = snaps
      .map((s, i) =>
        s.metrics[k] === undefined ? '' : `${x(i).toFixed(1)},${y(s.metrics[k]).toFixed(1)}`,
      )
      .filter(Boolean)
      .join(' ');
    return pts
      ? `<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts}"><title>${k}</title></polyline>`
      : '';
  }).join('');
  const legend = SERIES.map(
    ([k, color], i) => `<text x="${P + i * 150}" y="14" fill="${color}" font-size="12">${k}</text>`,
  ).join('');
  return `<svg id="monitor-chart" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="monitoring over time">
<rect x="${P}" y="${P}" width="${W - 2 * P}" height="${H - 2 * P}" fill="none" stroke="#ccc"/>
<text x="2" y="${P + 4}" font-size="10">${max.toFixed(2)}</text><text x="2" y="${H - P}" font-size="10">0</text>
${legend}${lines}</svg>
<p class="muted">${snaps.length} snapshots, ${esc(first.at)} to ${esc(last.at)}; latest: ${Object.entries(
    last.metrics,
  )
    .map(([k, v]) => `${esc(k)}=${Number(v).toFixed(3)}`)
    .join(', ')}</p>`;
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
      v.stage === 'production'
        ? ''
        : v.stage === 'archived'
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
${prod ? ` <button data-action="rollback" data-model="${esc(name)}">roll back</button>` : ''}</p>
${table(['version', 'stage', 'gate', 'signed', 'lineage (datasets)', 'root digest', 'registered', ''], rows, 'versions')}
<h2>Monitoring</h2>${monitorChart(snaps)}
<h2>Gate results</h2>${allGates.length ? allGates.map(gateDetails).join('') : '<p class="empty">no gate runs</p>'}
<h2>Alerts</h2>${alertsTable(alerts)}
<h2>Stage history</h2>${table(['time', 'version', 'change', 'kind', 'actor', 'reason'], trows, 'transitions')}`,
  );
}

function alertsTable(alerts: Alert[]): string {
  return table(
    ['time', 'model', 'monitor', 'severity', 'message'],
    alerts.map((a) => [
      esc(a.at),
      esc(a.versionId ?? a.name),
      esc(a.monitor),
      `<span class="sev-${esc(a.severity)}">${esc(a.severity)}</span>`,
      esc(a.message),
    ]),
    'alerts',
  );
}

/** Every alert. */
export function alertsPage(alerts: Alert[]): string {
  return page('Alerts', alertsTable(alerts));
}

/** Catalogue dataset versions. */
export function datasetsPage(versions: VersionRecord[]): string {
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
  );
}

/** The audit log (newest first) with the chain's verification status. */
export function auditPage(
  entries: AuditEntry[],
  verification: { ok: boolean; entries: number; reason?: string },
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
          `<code>${esc(JSON.stringify(e.details ?? {}).slice(0, 200))}</code>`,
        ]),
      'audit',
    )}`,
  );
}
