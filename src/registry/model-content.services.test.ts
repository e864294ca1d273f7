import { describe } from 'vitest';
import { postgresBackend } from '../testing/catalogue-backends.js';
import { modelContentSuite } from '../testing/model-content-suite.js';
import { testServiceUrl } from '../testing/services.js';

/**
 * A registered model's content in the shared PostgreSQL catalogue (issue 22): two project
 * folders on the same catalogue URL, each test in a fresh schema.
 */
const url = testServiceUrl('postgres');
describe.skipIf(!url)('model content on PostgreSQL (services tier)', () => {
  if (url) modelContentSuite(postgresBackend(url));
});
