import { SQLITE_BACKEND } from '../testing/catalogue-backends.js';
import {
  concurrentRegistrationSuite,
  modelRegistrySuite,
} from '../testing/model-registry-suite.js';

modelRegistrySuite(SQLITE_BACKEND);
concurrentRegistrationSuite(SQLITE_BACKEND, 2, 25);
