import { SQLITE_BACKEND } from '../testing/catalogue-backends.js';
import { modelContentSuite } from '../testing/model-content-suite.js';

/** A registered model's content in the SQLite catalogue's object store (issue 22). */
modelContentSuite(SQLITE_BACKEND);
