import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import {
  MessageChannel,
  type MessagePort,
  receiveMessageOnPort,
  Worker,
} from 'node:worker_threads';
import { AntidoteError } from '../errors.js';
import {
  type SqlDatabase,
  type SqlRunResult,
  type SqlStatement,
  type SqlValue,
  toPostgresPlaceholders,
} from './sql-database.js';

/**
 * {@link SqlDatabase} on a PostgreSQL server through `pg`, kept synchronous with the technique of
 * `synckit`: one worker thread owns one `pg.Client` (one dedicated connection per store); each call
 * posts its request to the worker and blocks the calling thread on `Atomics.wait` over a
 * SharedArrayBuffer until the worker has put the answer on a MessageChannel port, which
 * `receiveMessageOnPort` then reads synchronously. Why not an async rewrite: the catalogue
 * interfaces (`VersionCatalogue`, `AuditLogBackend`, `CatalogueStore`, the registry's reads) are
 * synchronous and used by 27 library modules outside the store (versioning, lineage, the audit
 * log, policy enforcement, the gate, deployment, monitors, the CLI commands, the server) at 37+
 * direct call sites of the registry's and store's reads alone, which 7 other changes were editing
 * at the same time; an async rewrite would touch all of them for a backend most users never
 * select. Measured (bench/scale-registry.mjs, `statementRoundTripMs`): a trivial statement's
 * whole round trip, bridge and server, takes 0.16–0.45 ms on the loaded 2-core test machine,
 * against 0.01–0.04 ms for SQLite in-process; the transactions below batch statements to keep
 * the count of round trips low. The price: a blocked thread does nothing else while a statement
 * runs, so this suits the CLI and the registry's short statements, not long analytical queries
 * on a server's request path.
 *
 * Transactions are serialised like SQLite's `BEGIN IMMEDIATE`: `BEGIN` then
 * `pg_advisory_xact_lock` on a key derived from the schema name, so writers of one catalogue run
 * one after another (on any machine) and a transaction that read a value sees it unchanged when
 * it writes. Reads outside a transaction take no lock.
 *
 * The URL is a libpq URL (`postgres://user:password@host:port/database`) with an optional
 * `schema` query parameter (default `antidote`): the schema holding the catalogue, created on
 * first use when the user may.
 */
export class PgSqlDatabase implements SqlDatabase {
  readonly dialect = 'postgres' as const;
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly flag: Int32Array;
  private depth = 0;
  /** Number of the last request (never 0: the flag's initial value). */
  private seq = 0;
  /**
   * Statements whose answer nobody waits for, sent ahead of the next request (saves their round
   * trips): `BEGIN` + the lock, savepoints, and writes inside a transaction.
   */
  private pending: Deferred[] = [];
  private closed = false;
  private readonly lockKey: readonly [number, number];

  private constructor(
    /** The schema holding the catalogue's tables. */
    readonly schema: string,
    /** The connection URL without its password, for messages. */
    readonly where: string,
    config: { connectionString: string; connectionTimeoutMillis: number },
    private readonly timeoutMs: number,
  ) {
    const shared = new SharedArrayBuffer(4);
    this.flag = new Int32Array(shared);
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    const pgPath = createRequire(import.meta.url).resolve('pg');
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      // Not the parent's flags: `--input-type=module` (a `node -e` parent) would make this
      // CommonJS source an ES module without `require`.
      execArgv: [],
      workerData: { pgPath, shared, port: port2 },
      transferList: [port2],
    });
    this.worker.unref();
    const h = createHash('sha256').update(`antidote-catalogue:${schema}`).digest();
    this.lockKey = [h.readInt32BE(0), h.readInt32BE(4)];
    try {
      this.call({ op: 'connect', config, schema });
    } catch (e) {
      this.closed = true;
      void this.worker.terminate();
      throw e;
    }
  }

  /**
   * Connects to the server of `url` (see the class comment for the format) and selects its
   * schema, creating it when it is missing. Fails with `IO_ERROR` when the server cannot be
   * reached. `timeoutMs` bounds every call (default 120 s).
   */
  static connect(url: string, options: { timeoutMs?: number } = {}): PgSqlDatabase {
    const { connectionString, schema, where } = parsePgUrl(url);
    const config = { connectionString, connectionTimeoutMillis: 30_000 };
    return new PgSqlDatabase(schema, where, config, options.timeoutMs ?? 120_000);
  }

  get open(): boolean {
    return !this.closed;
  }

  private call(msg: { op: string; [k: string]: unknown }): unknown {
    if (this.closed) {
      throw new AntidoteError('INVALID_STATE', `the connection to ${this.where} is closed`);
    }
    const pre = this.pending.splice(0);
    this.seq = (this.seq % 0x7fffffff) + 1;
    const seq = this.seq;
    this.worker.postMessage({
      ...msg,
      seq,
      pre: pre.map((d) => ({ sql: d.sql, params: d.params })),
    });
    const reply = waitForAnswer(this.flag, this.port, seq, this.timeoutMs) as
      | { ok: true; value: unknown; preChanges: number[] }
      | { ok: false; message: string; code?: string }
      | undefined;
    if (!reply) {
      this.closed = true;
      void this.worker.terminate();
      throw new AntidoteError(
        'IO_ERROR',
        `PostgreSQL at ${this.where} did not answer within ${this.timeoutMs / 1000} s`,
        { path: this.where },
      );
    }
    if (reply.ok) {
      for (const [i, d] of pre.entries()) d.done?.(reply.preChanges[i] ?? 0);
      return reply.value;
    }
    const code = reply.code === '42501' ? 'PERMISSION_DENIED' : 'IO_ERROR';
    throw new AntidoteError(code, `PostgreSQL (${this.where}): ${reply.message}`, {
      path: this.where,
      ...(reply.code ? { sqlstate: reply.code } : {}),
    });
  }

  private query(sql: string, params: readonly SqlValue[]): { rows: unknown[]; changes: number } {
    return this.call({ op: 'query', sql, params: params.map(ownBytes) }) as {
      rows: unknown[];
      changes: number;
    };
  }

  prepare(sql: string): SqlStatement {
    const text = toPostgresPlaceholders(sql);
    return {
      get: (...params: SqlValue[]) => this.query(text, params).rows.map(withBuffers)[0],
      all: (...params: SqlValue[]) => this.query(text, params).rows.map(withBuffers),
      run: (...params: SqlValue[]): SqlRunResult => {
        if (this.depth === 0) return { changes: this.query(text, params).changes };
        // Inside a transaction a write travels with the next request; its failure surfaces
        // there (at the latest at COMMIT) and rolls the whole transaction back. Reading
        // `changes` waits for it.
        let changes: number | undefined;
        this.pending.push({ sql: text, params: params.map(ownBytes), done: (n) => (changes = n) });
        const flush = () => {
          if (changes === undefined) this.call({ op: 'flush' });
          return changes ?? 0;
        };
        return {
          get changes() {
            return flush();
          },
        };
      },
    };
  }

  exec(sql: string): void {
    this.call({ op: 'exec', sql });
  }

  /**
   * `BEGIN` + the advisory lock, and savepoints, travel ahead of the transaction's first
   * statement, and a savepoint's `RELEASE` ahead of the next one: only `COMMIT` and the
   * statements that return something wait for an answer (the lock is still taken before the
   * first read, as statements run in order).
   */
  transaction<T>(fn: () => T): T {
    if (this.closed)
      throw new AntidoteError('INVALID_STATE', `the connection to ${this.where} is closed`);
    const outer = this.depth === 0;
    const savepoint = `antidote_sp${this.depth}`;
    this.pending.push({
      sql: outer
        ? `BEGIN; SELECT pg_advisory_xact_lock(${this.lockKey[0]}, ${this.lockKey[1]})`
        : `SAVEPOINT ${savepoint}`,
    });
    this.depth++;
    let result: T;
    try {
      result = fn();
    } catch (e) {
      this.depth--;
      this.rollbackQuietly(outer ? 'ROLLBACK' : `ROLLBACK TO SAVEPOINT ${savepoint}`);
      throw e;
    }
    this.depth--;
    if (outer) {
      try {
        this.exec('COMMIT');
      } catch (e) {
        // A write sent ahead of COMMIT failed: the transaction is aborted, end it.
        this.rollbackQuietly('ROLLBACK');
        throw e;
      }
    } else this.pending.push({ sql: `RELEASE SAVEPOINT ${savepoint}` });
    return result;
  }

  private rollbackQuietly(sql: string): void {
    if (sql === 'ROLLBACK') this.pending = []; // nothing not yet sent needs rolling back
    try {
      if (!this.closed) this.call({ op: 'exec', sql, rollback: true });
    } catch {
      // The connection is gone; the server rolls the transaction back itself.
    }
  }

  close(): void {
    if (this.closed) return;
    try {
      this.call({ op: 'close' });
    } catch {
      // Closing a broken connection: nothing left to release.
    }
    this.closed = true;
    void this.worker.terminate();
  }
}

/**
 * Blocks until the worker thread has answered request `seq` — it posts `{ seq, reply }` on
 * `port`, then stores `seq` in `flag[0]`, then notifies — and returns the reply, or undefined
 * after `timeoutMs`. The flag is checked, not the wake-up: a wake-up can belong to an earlier
 * answer (the worker stores the flag, then notifies; preempted between the two, its notify can
 * land after the caller has read that answer and sent its next request, the race described in
 * evanw/esbuild#590), so `Atomics.wait` returning proves nothing. Before this loop, such a late
 * wake-up made a call fail at once with "did not answer within 120 s" and closed the connection:
 * a rare failure on a loaded machine (a child of the 4-process registration test, issue 22).
 */
export function waitForAnswer(
  flag: Int32Array,
  port: MessagePort,
  seq: number,
  timeoutMs: number,
): unknown {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const now = Atomics.load(flag, 0);
    if (now === seq) break;
    const left = deadline - performance.now();
    if (left <= 0) return undefined;
    Atomics.wait(flag, 0, now, left);
  }
  // Earlier answers nobody read (a call that timed out) are skipped.
  for (;;) {
    const m = receiveMessageOnPort(port)?.message as { seq: number; reply: unknown } | undefined;
    if (!m) return undefined;
    if (m.seq === seq) return m.reply;
  }
}

/** A statement sent ahead of the next request; `done` receives its row count. */
interface Deferred {
  readonly sql: string;
  /** Absent: sent as a simple query (may hold several statements). */
  readonly params?: readonly SqlValue[];
  readonly done?: (changes: number) => void;
}

/**
 * A byte parameter that is a view into a larger buffer (a chunk of a file read into one big
 * Buffer, a Buffer from Node's shared pool) is copied out first: posting a view to the worker
 * copies its whole underlying buffer (measured: putting a 64 MiB object from memory in 1 MiB
 * views took 20 s instead of 1 s).
 */
function ownBytes(v: SqlValue): SqlValue {
  return v instanceof Uint8Array && v.byteLength !== v.buffer.byteLength ? new Uint8Array(v) : v;
}

/** Rows cross the thread boundary with Buffers turned into Uint8Arrays: turn them back. */
function withBuffers(row: unknown): unknown {
  const r = row as Record<string, unknown>;
  for (const [k, v] of Object.entries(r)) {
    if (v instanceof Uint8Array && !Buffer.isBuffer(v)) {
      r[k] = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    }
  }
  return r;
}

const SCHEMA_RE = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Splits a store URL into what `pg` connects with, the schema (the `schema` query parameter,
 * default `antidote`; lower-case letters, digits and `_`) and a printable form without password.
 */
export function parsePgUrl(url: string): {
  connectionString: string;
  schema: string;
  where: string;
} {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new AntidoteError('INVALID_ARGUMENT', 'the PostgreSQL store URL is not a valid URL');
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `a PostgreSQL store URL starts with postgres:// (got ${u.protocol}//)`,
    );
  }
  const schema = u.searchParams.get('schema') ?? 'antidote';
  if (!SCHEMA_RE.test(schema)) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `invalid schema "${schema}": use lower-case letters, digits and "_" (at most 63)`,
    );
  }
  u.searchParams.delete('schema');
  const printable = new URL(u.href);
  if (printable.password) printable.password = '***';
  return { connectionString: u.href, schema, where: printable.href };
}

/**
 * The worker thread (CommonJS, evaluated): owns the `pg.Client`; answers each request on the
 * port, then raises the shared flag and wakes the blocked caller. 64-bit integers and numerics
 * come back as numbers (the catalogue's counters stay far below 2^53). Statements are prepared once
 * per connection (named), so a repeated lookup skips the server's parse and plan.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const pg = require(workerData.pgPath);
pg.types.setTypeParser(20, (v) => Number(v));
pg.types.setTypeParser(1700, (v) => Number(v));
const flag = new Int32Array(workerData.shared);
const port = workerData.port;
let client;
let broken;
const names = new Map();
function nameOf(text) {
  let n = names.get(text);
  if (n === undefined) { n = 'antidote_' + names.size; names.set(text, n); }
  return n;
}
function param(v) { return v instanceof Uint8Array && !Buffer.isBuffer(v) ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : v; }
async function handle(msg, preChanges) {
  if (broken) throw broken;
  try {
    for (const d of msg.pre || []) {
      const r = d.params
        ? await client.query({ name: nameOf(d.sql), text: d.sql, values: d.params.map(param) })
        : await client.query(d.sql);
      preChanges.push(Array.isArray(r) ? 0 : (r.rowCount ?? 0));
    }
  } catch (e) {
    // A rollback still runs after a failed write sent ahead of it.
    if (msg.rollback) await client.query(msg.sql).catch(() => {});
    throw e;
  }
  switch (msg.op) {
    case 'connect': {
      client = new pg.Client(msg.config);
      client.on('error', (e) => { broken = e; });
      await client.connect();
      const id = '"' + msg.schema + '"';
      const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [msg.schema]);
      if (exists.rowCount === 0) {
        // Two clients creating it at once: one may fail on the catalogue's unique index.
        try { await client.query('CREATE SCHEMA IF NOT EXISTS ' + id); }
        catch (e) { if ((await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [msg.schema])).rowCount === 0) throw e; }
      }
      await client.query('SET search_path TO ' + id);
      return null;
    }
    case 'query': {
      const r = await client.query({ name: nameOf(msg.sql), text: msg.sql, values: msg.params.map(param) });
      return { rows: r.rows, changes: r.rowCount ?? 0 };
    }
    case 'exec':
      await client.query(msg.sql);
      return null;
    case 'flush':
      return null;
    case 'close':
      if (client) await client.end();
      return null;
  }
  throw new Error('unknown request ' + msg.op);
}
parentPort.on('message', async (msg) => {
  let reply;
  const preChanges = [];
  try {
    reply = { ok: true, value: await handle(msg, preChanges), preChanges };
  } catch (e) {
    reply = { ok: false, message: String((e && e.message) || e), code: e && typeof e.code === 'string' ? e.code : undefined };
  }
  // Answer, then flag (the request's number), then wake: see waitForAnswer.
  port.postMessage({ seq: msg.seq, reply });
  Atomics.store(flag, 0, msg.seq);
  Atomics.notify(flag, 0);
});
`;
