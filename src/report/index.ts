/**
 * Reports: the `antidote-audit/v1` report document, its self-contained HTML rendering, SVG charts,
 * PNG image grids, sweep charts, writing a report directory, the JSON Schemas of report.json and
 * SARIF 2.1.0 output.
 */
export * from './audit-report.js';
export * from './charts.js';
export { escapeHtml, renderAuditHtml } from './html.js';
export * from './image-grid.js';
export * from './json-schema.js';
export * from './sarif.js';
export * from './sweep-chart.js';
export * from './write.js';
