import { configDefaults, defineConfig } from 'vitest/config';

/**
 * The slow tier: end-to-end and integration test files (they train models, spawn the CLI, run the
 * demo or drive a browser), chosen from a timed run of the whole suite — each takes 10–50 s on a
 * 2-core machine. `npm run test:fast` (`vitest run --mode fast`) leaves them out; `npm test` runs
 * everything.
 */
const SLOW_TESTS = [
  'src/attacks/feature-collision.test.ts',
  'src/audit/audit.test.ts',
  'src/audit/demo.test.ts',
  'src/cli/cli.test.ts',
  'src/cli/commands/audit.test.ts',
  'src/cli/commands/inspect.test.ts',
  'src/cli/commands/registry.test.ts',
  'src/cli/commands/scan.test.ts',
  'src/cli/commands/text-tabular.test.ts',
  'src/defenses/integration.test.ts',
  'src/defenses/neural-cleanse.test.ts',
  'src/engine/tf-classifier.test.ts',
  'src/registry/gate.test.ts',
  'src/server/dashboard.browser.test.ts',
];

/**
 * The services tier (`npm run test:services`, `--mode services`): tests that need the PostgreSQL
 * and Redis servers `scripts/services.sh` starts (see src/testing/services.ts). `npm test` runs
 * them too.
 */
const SERVICES_TESTS = 'src/**/*.services.test.ts';

export default defineConfig(({ mode }) => ({
  test: {
    include: mode === 'services' ? [SERVICES_TESTS] : ['src/**/*.test.ts'],
    exclude: [
      ...configDefaults.exclude,
      ...(mode === 'fast' ? [...SLOW_TESTS, SERVICES_TESTS] : []),
    ],
    // One temporary root per run, removed at its end (src/testing/temp-root.ts).
    globalSetup: ['src/testing/temp-root.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
}));
