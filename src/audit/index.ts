/**
 * The poisoning audit (`runAudit`: integrity, model, scan, vulnerability, policy, report) and the
 * embedded demo composed of the same stages (`runDemo`), with the stages and the shared report
 * builder for callers that compose their own.
 */
export { type AuditOptions, type AuditResult, runAudit } from './audit.js';
export { type AuditModel, type AuditModelOptions, auditModel } from './audit-model.js';
export {
  type AuditFindings,
  buildAuditReport,
  type SkippedStage,
} from './audit-sections.js';
export { DEMO_TRIGGER, type DemoOptions, type DemoOutput, runDemo } from './demo.js';
export { buildDemoReport, type DemoResults } from './demo-sections.js';
export {
  checkIntegrity,
  type IntegrityCheckOptions,
  type IntegrityFindings,
} from './integrity-check.js';
export * from './policy.js';
export * from './progress.js';
export { buildReport, type ReportParts } from './report-builder.js';
export { type ScanFindings, type ScanStageOptions, scanStage } from './scan-stage.js';
export * from './suspicious-csv.js';
export * from './trigger-location.js';
export * from './vulnerability.js';
export { type VulnerabilitySettings, vulnerabilityStage } from './vulnerability-stage.js';
