/**
 * `antidote/report`: the audit report (plain JSON, {@link AuditReport}) and its renderings — the
 * self-contained HTML page, SVG line/scatter/bar charts, image grids, PNG encoding and the attack
 * sweep chart.
 */

export * from './audit-report.js';
export * from './charts.js';
export * from './html.js';
export * from './image-grid.js';
export * from './png.js';
export * from './sweep-chart.js';
