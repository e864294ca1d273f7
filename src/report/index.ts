/**
 * Reports: the `antidote-audit/v1` report document, its self-contained HTML rendering, SVG charts,
 * PNG image grids, sweep charts, and writing a report directory.
 */
export * from './audit-report.js';
export * from './charts.js';
export { escapeHtml, renderAuditHtml } from './html.js';
export * from './image-grid.js';
export * from './sweep-chart.js';
export * from './write.js';
