import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { AntidoteError } from '../errors.js';
import type { Deployment } from '../registry/deployment.js';
import { type AppContext, createApp } from './app.js';

/** Options of {@link startServer}. */
export interface StartServerOptions extends AppContext {
  /** Interface to bind; default `127.0.0.1` (loopback only). */
  readonly host?: string;
  /** TCP port; 0 picks a free one. Default 8080. */
  readonly port?: number;
  /**
   * Longest time a client may take to send a whole request, headers and body (Node's
   * `requestTimeout`; headers within `min(10 s, this)`); default 15,000 ms. A slower client gets
   * a 408 and its connection is closed: 1,000 slow-body connections are not held for minutes,
   * and they count as body timeouts, not as failed requests.
   */
  readonly bodyTimeoutMs?: number;
  /** How often to follow production changes made by other processes; default 1000 ms (0 = off). */
  readonly syncIntervalMs?: number;
  readonly onError?: (message: string) => void;
}

/** A running server. */
export interface RunningServer {
  readonly url: string;
  readonly port: number;
  readonly host: string;
  /**
   * Graceful shutdown: stops accepting connections, lets in-flight requests finish (up to
   * `graceMs`, default 10 s, then closes the rest), then frees the model.
   */
  close(graceMs?: number): Promise<void>;
}

/**
 * Starts the HTTP server (hono on @hono/node-server) on `host:port`, loopback by default.
 * Resolves once it is listening.
 */
export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  const app = createApp(options);
  const server = await new Promise<ReturnType<typeof serve>>((res, rej) => {
    const timeout = options.bodyTimeoutMs ?? 15_000;
    const s = serve(
      {
        fetch: app.fetch,
        hostname: host,
        port: options.port ?? 8080,
        serverOptions: {
          requestTimeout: timeout,
          headersTimeout: Math.min(10_000, timeout),
          // How often Node checks those timeouts (its default is 30 s).
          connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(timeout / 4))),
        },
      },
      () => res(s),
    );
    s.once('error', (e: NodeJS.ErrnoException) =>
      rej(
        new AntidoteError('IO_ERROR', `cannot listen on ${host}:${options.port}: ${e.message}`, {
          code: e.code,
        }),
      ),
    );
  });
  const addr = server.address() as AddressInfo;
  const d: Deployment | undefined = options.deployment;
  let timer: NodeJS.Timeout | undefined;
  const interval = options.syncIntervalMs ?? 1000;
  if (d && interval > 0) {
    let busy = false;
    timer = setInterval(() => {
      if (busy) return;
      busy = true;
      d.sync()
        .catch((e: Error) => options.onError?.(`cannot follow production changes: ${e.message}`))
        .finally(() => {
          busy = false;
        });
    }, interval);
    timer.unref();
  }
  const urlHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${addr.port}`,
    port: addr.port,
    host: addr.address,
    close(graceMs = 10_000) {
      closing ??= (async () => {
        if (timer) clearInterval(timer);
        await new Promise<void>((res) => {
          const force = setTimeout(() => {
            (server as { closeAllConnections?: () => void }).closeAllConnections?.();
          }, graceMs);
          force.unref();
          server.close(() => {
            clearTimeout(force);
            res();
          });
          (server as { closeIdleConnections?: () => void }).closeIdleConnections?.();
        });
        await d?.close();
      })();
      return closing;
    },
  };
}
