import { join } from 'node:path';
import { writeFileAtomic } from '../util/fs.js';
import type { AuditReport } from './audit-report.js';
import { renderAuditHtml } from './html.js';

/** Where {@link writeReport} put a report. */
export interface WrittenReport {
  readonly json: string;
  readonly html: string;
}

/** Writes `report.json` and `report.html` (self-contained) of a report into `dir`, atomically. */
export async function writeReport(dir: string, report: AuditReport): Promise<WrittenReport> {
  const json = join(dir, 'report.json');
  const html = join(dir, 'report.html');
  await writeFileAtomic(json, `${JSON.stringify(report, null, 2)}\n`);
  await writeFileAtomic(html, renderAuditHtml(report));
  return { json, html };
}
