import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the test server answers on one path. */
export interface TestRoute {
  readonly body?: string | Uint8Array;
  readonly status?: number;
  readonly headers?: Record<string, string>;
  /** Wait this long before answering (a timeout test). */
  readonly delayMs?: number;
}

/** A loopback HTTP server whose answers a test changes between runs. */
export interface TestUrlServer {
  /** `http://127.0.0.1:PORT`. */
  readonly base: string;
  /** `127.0.0.1:PORT`. */
  readonly host: string;
  readonly routes: Map<string, TestRoute>;
  /** Requests served so far. */
  requests: number;
  close(): Promise<void>;
}

/** Starts an HTTP server on 127.0.0.1 (random port) answering from `routes` (404 elsewhere). */
export async function startUrlServer(
  routes: Iterable<[string, TestRoute]> = [],
): Promise<TestUrlServer> {
  const table = new Map(routes);
  const timers = new Set<NodeJS.Timeout>();
  const state = { requests: 0 };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    state.requests++;
    const route = table.get(req.url ?? '');
    const answer = () => {
      if (!route) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(route.status ?? 200, route.headers ?? {});
      res.end(route.body ?? '');
    };
    if (route?.delayMs) {
      const t = setTimeout(() => {
        timers.delete(t);
        if (!res.destroyed) answer();
      }, route.delayMs);
      timers.add(t);
    } else {
      answer();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    routes: table,
    get requests() {
      return state.requests;
    },
    set requests(v: number) {
      state.requests = v;
    },
    close: async () => {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
