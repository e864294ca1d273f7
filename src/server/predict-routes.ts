/**
 * `POST /v1/predict`: the production model on the records of the request. What a record is
 * depends on the model (see `ModelInput`): a flattened number array for image models,
 * `{"text": "…"}` for text models, and for tabular models an object keyed by column name
 * (`{"age": 42, "housing": "own"}`) or an array in column order; categorical values are level
 * names (or indices).
 */
import { type Context, Hono } from 'hono';
import { z } from 'zod';
import type { Dataset } from '../data/dataset.js';
import { parseModelRecords } from '../engine/model-input.js';
import { AntidoteError } from '../errors.js';
import type { Deployment, Prediction, RequestClient } from '../registry/deployment.js';
import {
  type AppContext,
  errorBody,
  isIncompleteBody,
  jsonBodyLimit,
  parseRequest,
  readJson,
  requestClient,
  type ServerStats,
} from './http.js';

const predictSchema = z.strictObject({
  /** Optional: must name the served model when given. */
  model: z.string().min(1).max(128).optional(),
  /** Records as the served model reads them (checked against it by `parseModelRecords`). */
  inputs: z.array(z.unknown()).min(1),
});

/**
 * The request's records as a dataset the served model reads (a 4xx error otherwise): values that
 * are not finite as float32 or fall outside the model's input range are refused here, before the
 * model or its monitors see them (`Deployment.checkRecords`).
 */
async function requestRecords(c: Context, d: Deployment, maxBatch: number): Promise<Dataset> {
  const body = parseRequest(predictSchema, await readJson(c));
  if (body.model !== undefined && body.model !== d.name) {
    throw new AntidoteError(
      'NOT_FOUND',
      `unknown model "${body.model}"; this server serves "${d.name}"`,
    );
  }
  if (body.inputs.length > maxBatch) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `at most ${maxBatch} records per request, got ${body.inputs.length}`,
    );
  }
  const { input, classes } = d.signature;
  const records = parseModelRecords(input, body.inputs, classes);
  d.checkRecords(records);
  return records;
}

/** The JSON reply of a prediction. */
function predictionBody(d: Deployment, p: Prediction) {
  const k = p.classes.length;
  return {
    model: d.name,
    version: p.version,
    predictions: Array.from(p.predictions, (cls, i) => ({
      class: cls,
      label: p.classes[cls],
      probabilities: Array.from(p.probabilities.subarray(i * k, (i + 1) * k), (v) =>
        Number(v.toFixed(6)),
      ),
      ...(p.strip
        ? {
            strip: {
              entropy: Number(p.strip.entropy[i]!.toFixed(4)),
              rejected: p.strip.rejected[i] === 1,
            },
          }
        : {}),
    })),
    ...(p.alerts.length ? { alerts: p.alerts.map((a) => a.monitor) } : {}),
  };
}

/** The predict route (404 when the app serves no model). */
export function predictRoutes(ctx: AppContext, stats: ServerStats): Hono {
  const app = new Hono();
  const maxBatch = ctx.maxBatch ?? 256;
  app.post('/v1/predict', jsonBodyLimit(ctx, stats), async (c) => {
    const d = ctx.deployment;
    if (!d) return c.json(errorBody('NOT_FOUND', 'this server serves no model'), 404);
    const t0 = performance.now();
    let records: Dataset;
    let client: RequestClient;
    try {
      client = requestClient(ctx, c);
    } catch (e) {
      stats.badRequests++;
      throw e;
    }
    try {
      records = await requestRecords(c, d, maxBatch);
    } catch (e) {
      // A body that never arrived is the client's slowness, not the model's failure.
      if (isIncompleteBody(e)) stats.bodyTimeouts++;
      else {
        stats.badRequests++;
        d.recordFailure(client);
      }
      throw e;
    }
    const p = await d.predictRecords(records, client);
    stats.latencies.push(performance.now() - t0);
    return c.json(predictionBody(d, p));
  });
  return app;
}
