import type { Command } from 'commander';
import { Option } from 'commander';
import { AntidoteError } from '../../errors.js';
import { appendAudit } from '../../integrity/audit-log.js';
import { ModelRegistry } from '../../registry/model-registry.js';
import { parsePgUrl } from '../../registry/pg-database.js';
import {
  type CatalogueAccess,
  catalogueGrants,
  grantCatalogueAccess,
} from '../../registry/pg-roles.js';
import { resolveProjectDir } from '../../registry/store.js';
import { type OutputOptions, printResult } from '../output.js';
import { actorOf, requirePermission } from './policy.js';

interface StoreGrantOptions extends OutputOptions {
  role: string;
  access: CatalogueAccess;
  sql?: boolean;
  project?: string;
  key?: string;
}

/** The PostgreSQL store the global `--store` / `ANTIDOTE_STORE` names; `INVALID_ARGUMENT` otherwise. */
function postgresStore(): string {
  const url = process.env.ANTIDOTE_STORE;
  if (!url || !/^postgres(ql)?:\/\//.test(url)) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      'database roles apply to a PostgreSQL store: give --store postgres://… (or ANTIDOTE_STORE); SQLite has none (use file permissions)',
    );
  }
  return url;
}

/**
 * `antidote store grant --role ROLE --access read|write`: gives an existing PostgreSQL role access to
 * the shared catalogue (issue 22; `src/registry/pg-roles.ts`, docs/postgres.md): `read` is SELECT
 * only (a dashboard, `serve --read-only`), `write` adds INSERT and the two UPDATEs registering,
 * committing, gating and promoting need, never DELETE, TRUNCATE or DDL. Run as the catalogue's
 * owner; the role itself (`CREATE ROLE … LOGIN PASSWORD …`) is the database administrator's. With
 * `--sql` the statements are printed for review (or psql), and nothing is run. With an access
 * policy installed, the holder of `--key` needs `keys:manage`; the grant is audited
 * (`store.grant`).
 */
export function registerStoreCommand(program: Command): void {
  const cmd = program
    .command('store')
    .description('the shared PostgreSQL catalogue: grant a database role read or write access');
  cmd
    .command('grant')
    .description(
      'give an existing PostgreSQL role read (SELECT only) or write access to the catalogue',
    )
    .requiredOption('--role <role>', 'the database role (lower-case letters, digits, _)')
    .addOption(
      new Option('--access <access>', 'read: SELECT only; write: also INSERT and stage UPDATEs')
        .choices(['read', 'write'])
        .makeOptionMandatory(),
    )
    .option('--sql', 'print the GRANT statements instead of running them')
    .option('--project <dir>', 'project folder (default: nearest with .antidote/)')
    .option('--key <file>', 'your key; needs keys:manage when an access policy is installed')
    .option('--json', 'print the result as JSON')
    .option('--quiet', 'print nothing but errors')
    .action(async (o: StoreGrantOptions) => {
      const role = o.role;
      const url = postgresStore();
      const { schema } = parsePgUrl(url);
      const statements = catalogueGrants(schema, role, o.access);
      if (o.sql) {
        printResult(o, `${statements.join(';\n')};`, {
          role,
          access: o.access,
          schema,
          statements,
        });
        return;
      }
      const reg = ModelRegistry.open(
        resolveProjectDir({ explicit: o.project, cwd: process.cwd(), create: false }),
      );
      try {
        await requirePermission(reg.store, o.key, 'keys:manage', `role:${role}`);
        const actor = (await actorOf(o.key)) ?? 'anonymous';
        const db = reg.store.db as typeof reg.store.db & { readonly schema: string };
        grantCatalogueAccess(db, role, o.access);
        appendAudit(reg.store, {
          actor,
          action: 'store.grant',
          subject: `role:${role}`,
          outcome: 'ok',
          details: { access: o.access, schema },
        });
      } finally {
        reg.close();
      }
      if (!o.quiet) {
        printResult(
          o,
          `role ${role} now has ${o.access} access to the catalogue in schema ${schema}`,
          { role, access: o.access, schema, statements },
        );
      }
    });
}
