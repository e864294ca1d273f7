/**
 * `antidote/audit`: the end-to-end audit of a dataset for poisoning ({@link runAudit}: integrity,
 * scan, vulnerability, report) and the embedded MNIST demo ({@link runDemo}) built from the same
 * stages.
 */

export * from './audit.js';
export * from './demo.js';
export * from './progress.js';
export * from './report-builder.js';
export * from './trigger-location.js';
export * from './vulnerability.js';
