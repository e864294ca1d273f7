/**
 * The services tier: tests that need a real PostgreSQL or Redis (the team deployment, #22) are
 * named `*.services.test.ts` and read the servers' URLs from `ANTIDOTE_TEST_PG_URL` and
 * `ANTIDOTE_TEST_REDIS_URL`, which `scripts/services.sh start` prints (`.ci/run` starts both on
 * loopback and exports them). Without them such a test is skipped on a developer's machine, but
 * fails in CI (`CI` set): a tier that silently skips in CI would prove nothing.
 */

/** The service a test needs. */
export type TestService = 'postgres' | 'redis';

const ENV: Record<TestService, string> = {
  postgres: 'ANTIDOTE_TEST_PG_URL',
  redis: 'ANTIDOTE_TEST_REDIS_URL',
};

/**
 * The URL of `service` for the tests, or undefined when it is not configured (the caller skips).
 * Throws when it is missing while `CI` is set.
 */
export function testServiceUrl(service: TestService): string | undefined {
  const url = process.env[ENV[service]];
  if (url) return url;
  if (process.env.CI && process.env.CI !== 'false') {
    throw new Error(
      `${ENV[service]} is not set in CI: start the services with \`eval "$(scripts/services.sh start)"\``,
    );
  }
  return undefined;
}
