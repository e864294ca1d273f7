import type {
  AuditReport,
  Metric,
  ReportChart,
  ReportRun,
  ReportSection,
  ReportTable,
  Verdict,
} from './audit-report.js';

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/** The verdict words, as every report and CLI output of Antidote writes them. */
const VERDICT_TEXT: Record<Verdict, string> = {
  pass: 'PASS',
  review: 'REVIEW',
  fail: 'FAIL',
};

function formatValue(m: Metric): string {
  if (m.value === null) return '—';
  if (typeof m.value === 'string') return m.value;
  if (m.percent) return `${(m.value * 100).toFixed(2)}%`;
  return Number.isInteger(m.value) ? m.value.toLocaleString('en-US') : m.value.toFixed(4);
}

function badge(v: Verdict): string {
  return `<span class="badge badge-${v}">${VERDICT_TEXT[v]}</span>`;
}

function table(t: ReportTable): string {
  const head = t.columns.map((c) => `<th scope="col">${escapeHtml(c)}</th>`).join('');
  const body = t.rows
    .map(
      (r) =>
        `<tr>${r
          .map((cell, i) => {
            const text =
              cell === null
                ? '—'
                : typeof cell === 'number'
                  ? cell.toLocaleString('en-US', { maximumFractionDigits: 4 })
                  : cell;
            return i === 0
              ? `<th scope="row">${escapeHtml(String(text))}</th>`
              : `<td>${escapeHtml(String(text))}</td>`;
          })
          .join('')}</tr>`,
    )
    .join('\n');
  return `<table><caption>${escapeHtml(t.caption)}</caption><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

/** A legend swatch: a short line in the series' colour (dashed for a dashed series). */
function swatch(color: string, dashed: boolean | undefined): string {
  return `<span class="swatch" aria-hidden="true" style="border-top: 3px ${dashed ? 'dashed' : 'solid'} ${escapeHtml(color)}"></span>`;
}

/**
 * A chart: its title and legend as HTML above the plot (laid out by the browser, so they never
 * overlap each other or the plot), the plot at the full content width, the description below.
 */
function chart(c: ReportChart): string {
  const title = c.title ? `<div class="chart-title">${escapeHtml(c.title)}</div>` : '';
  const legend = c.legend?.length
    ? `<ul class="chart-legend">${c.legend.map((l) => `<li>${swatch(l.color, l.dashed)}${escapeHtml(l.name)}</li>`).join('')}</ul>`
    : '';
  return `<figure class="chart">${title}${legend}<div class="chart-plot" role="img" aria-label="${escapeHtml(c.description)}">${c.svg}</div><figcaption>${escapeHtml(c.description)}</figcaption></figure>`;
}

/** The run table: date, tool and version, operator, each input with its digest. */
function runTable(run: ReportRun): string {
  const row = (k: string, v: string) =>
    `<tr><th scope="row">${escapeHtml(k)}</th><td>${v}</td></tr>`;
  return `<table class="subject run"><caption>Run</caption><tbody>${[
    row('date', escapeHtml(run.date)),
    row('tool', escapeHtml(`${run.tool} ${run.version}`)),
    row('operator', escapeHtml(run.operator)),
    ...run.inputs.map((i) =>
      row(i.role, `${escapeHtml(i.path)}<br><code class="digest">${escapeHtml(i.digest)}</code>`),
    ),
  ].join('')}</tbody></table>`;
}

function section(s: ReportSection): string {
  const parts: string[] = [];
  parts.push(
    `<h2 id="${escapeHtml(s.id)}">${escapeHtml(s.title)}${s.status ? ` ${badge(s.status)}` : ''}</h2>`,
  );
  for (const p of s.paragraphs ?? []) parts.push(`<p>${escapeHtml(p)}</p>`);
  if (s.metrics?.length) {
    parts.push(
      `<dl class="metrics">${s.metrics
        .map(
          (m) => `<div><dt>${escapeHtml(m.label)}</dt><dd>${escapeHtml(formatValue(m))}</dd></div>`,
        )
        .join('')}</dl>`,
    );
  }
  if (s.bullets?.length)
    parts.push(`<ul>${s.bullets.map((b) => `<li>${escapeHtml(b)}</li>`).join('')}</ul>`);
  for (const t of s.tables ?? []) parts.push(table(t));
  for (const c of s.charts ?? []) parts.push(chart(c));
  if (s.images?.length) {
    parts.push(
      `<div class="images">${s.images
        .map(
          (im) =>
            `<figure class="thumb"><img src="data:image/png;base64,${im.pngBase64}" alt="${escapeHtml(im.alt)}"><figcaption>${escapeHtml(im.caption)}</figcaption></figure>`,
        )
        .join('')}</div>`,
    );
  }
  return `<section aria-labelledby="${escapeHtml(s.id)}">\n${parts.join('\n')}\n</section>`;
}

const STYLE = `
:root { --ink: #1d2733; --muted: #5b6675; --line: #d8dee6; --pass: #1f7a3a; --review: #9a6700; --fail: #b3261e; }
* { box-sizing: border-box; }
body { font: 15px/1.5 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: var(--ink); margin: 0; background: #f5f7fa; }
main { max-width: 1040px; margin: 0 auto; padding: 32px 40px 64px; background: #fff; }
@media (max-width: 600px) { main { padding: 16px 12px 40px; } }
header { border-bottom: 3px solid var(--ink); padding-bottom: 16px; margin-bottom: 8px; }
h1 { font-size: 26px; margin: 0 0 6px; }
h2 { font-size: 20px; margin: 36px 0 10px; padding-top: 8px; border-top: 1px solid var(--line); }
.headline { font-size: 16px; margin: 8px 0 0; }
.verdict { border-left: 8px solid var(--ink); padding: 10px 16px; margin: 12px 0; background: #f5f7fa; }
.verdict-pass { border-color: var(--pass); } .verdict-review { border-color: var(--review); } .verdict-fail { border-color: var(--fail); }
.verdict-word { font-size: 28px; font-weight: 800; letter-spacing: .04em; margin: 0; }
.verdict-pass .verdict-word { color: var(--pass); } .verdict-review .verdict-word { color: var(--review); } .verdict-fail .verdict-word { color: var(--fail); }
.reason { font-size: 17px; margin: 4px 0 0; }
code.digest { font-size: 12px; word-break: break-all; color: var(--muted); }
.badge { display: inline-block; font-size: 12px; font-weight: 700; letter-spacing: .04em; text-transform: uppercase;
  padding: 2px 10px; border-radius: 999px; color: #fff; vertical-align: middle; }
.badge-pass { background: var(--pass); } .badge-review { background: var(--review); } .badge-fail { background: var(--fail); }
table { border-collapse: collapse; width: 100%; margin: 12px 0 18px; font-size: 14px; }
caption { text-align: left; font-weight: 600; padding: 4px 0; color: var(--muted); }
th, td { border-bottom: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; }
thead th { border-bottom: 2px solid var(--ink); }
td { font-variant-numeric: tabular-nums; }
dl.metrics { display: grid; grid-template-columns: repeat(auto-fill, minmax(180px, 1fr)); gap: 10px; margin: 12px 0; }
dl.metrics div { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; }
dt { font-size: 12px; color: var(--muted); } dd { margin: 2px 0 0; font-size: 20px; font-weight: 600; font-variant-numeric: tabular-nums; }
figure.chart { margin: 16px 0; width: 100%; }
.chart-title { font-weight: 600; font-size: 15px; margin: 0 0 4px; }
ul.chart-legend { list-style: none; display: flex; flex-wrap: wrap; gap: 4px 18px; margin: 0 0 6px; padding: 0; font-size: 13px; }
ul.chart-legend li { display: flex; align-items: center; gap: 6px; }
.swatch { display: inline-block; width: 22px; height: 0; }
.chart-plot svg { display: block; width: 100%; height: auto; }
figcaption { font-size: 13px; color: var(--muted); }
.images { display: flex; flex-wrap: wrap; gap: 10px; }
figure.thumb { margin: 0; width: 104px; text-align: center; } figure.thumb img { image-rendering: pixelated; width: 96px; height: 96px; border: 1px solid var(--line); }
nav ol { columns: 2; font-size: 14px; } .subject th { width: 140px; color: var(--muted); font-weight: 500; }
footer { margin-top: 40px; font-size: 12px; color: var(--muted); border-top: 1px solid var(--line); padding-top: 8px; }
@media print { body { background: #fff; } main { padding: 0; max-width: none; } section { break-inside: avoid-page; }
  h2 { break-after: avoid; } figure { break-inside: avoid; } nav { display: none; } }
`;

/**
 * Renders an {@link AuditReport} as one self-contained HTML page: the verdict and its reason
 * first, then the run (date, tool version, operator, input digests) and the subject; inline
 * CSS, charts as inline SVG at the full content width with their titles and legends as HTML,
 * images as inline PNG data URIs, no scripts and no external requests. Every string from the
 * report is escaped; headings, table captions and alt texts keep it accessible, and a print
 * stylesheet keeps sections and figures whole.
 */
export function renderAuditHtml(report: AuditReport): string {
  const subject = Object.entries(report.subject)
    .map(([k, v]) => `<tr><th scope="row">${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`)
    .join('');
  const toc = report.sections
    .map((s) => `<li><a href="#${escapeHtml(s.id)}">${escapeHtml(s.title)}</a></li>`)
    .join('');
  const generator = Object.entries(report.generator)
    .map(([k, v]) => `${escapeHtml(k)}: ${escapeHtml(String(v))}`)
    .join(' · ');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>${escapeHtml(report.title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<header>
<h1>${escapeHtml(report.title)}</h1>
<div class="verdict verdict-${report.verdict}" role="status"><p class="verdict-word">${VERDICT_TEXT[report.verdict]}</p><p class="reason">${escapeHtml(report.reason)}</p></div>
<p class="headline">${escapeHtml(report.headline)}</p>
${runTable(report.run)}
<table class="subject"><caption>What was audited</caption><tbody>${subject}</tbody></table>
</header>
<nav aria-label="Contents"><ol>${toc}</ol></nav>
${report.sections.map(section).join('\n')}
<footer>Generated by Antidote · ${generator}</footer>
</main>
</body>
</html>
`;
}
