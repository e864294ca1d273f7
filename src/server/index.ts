/**
 * The HTTP service: `POST /v1/predict` for a model's production version with live monitoring and
 * automatic rollback, health and metrics endpoints, the JSON API and the dashboard. A thin shell
 * over the registry.
 */
export { type AlertGroup, groupAlerts } from './alert-groups.js';
export { type AppContext, createApp } from './app.js';
export { APP_CSS, APP_JS } from './assets.js';
export {
  loadTokenTable,
  parseTokenTable,
  principalOfToken,
  readAuth,
  scopeAllows,
  TOKEN_SCOPES,
  type TokenEntry,
  type TokenPrincipal,
  type TokenScope,
  type TokenSource,
  type TokenTable,
  tokenFileSchema,
} from './auth.js';
export { esc, monitorChart, pngDataUri } from './dashboard.js';
export { type RunningServer, type StartServerOptions, startServer } from './start.js';
export {
  type CreateTokenOptions,
  createToken,
  listTokens,
  ProjectTokens,
  revokeToken,
  type TokenInfo,
  tokensPath,
  tokenUsagePath,
} from './token-store.js';
