/**
 * What `urls snapshot` and `urls fetch` may download: default deny. Only hosts on the allow list
 * are contacted, only over http(s), with a per-item deadline, a size cap and a bound on parallel
 * requests (see `url-download.ts`). A list of web URLs is untrusted input: without an allow list
 * it could point the fetcher anywhere (internal services, cloud metadata endpoints).
 */
import { AntidoteError } from '../errors.js';

/** Limits of one download run. */
export interface UrlFetchPolicy {
  /**
   * Hosts that may be contacted: `example.com` (any port), `example.com:8080` (that port only) or
   * `*.example.com` (its subdomains, not itself). Empty: nothing is fetched (default deny).
   */
  readonly allowHosts: readonly string[];
  /** Deadline of one item, headers and body, in ms. */
  readonly timeoutMs: number;
  /** Largest body accepted, in bytes. */
  readonly maxBytes: number;
  /** Requests in flight at once. */
  readonly concurrency: number;
  /** Same-host redirects followed (a redirect to another host is refused). */
  readonly maxRedirects: number;
}

/** The defaults: 30 s per item, 16 MiB, 8 in flight, 3 same-host redirects, no host allowed. */
export const DEFAULT_URL_FETCH_POLICY: UrlFetchPolicy = Object.freeze({
  allowHosts: Object.freeze([]) as readonly string[],
  timeoutMs: 30_000,
  maxBytes: 16 * 1024 * 1024,
  concurrency: 8,
  maxRedirects: 3,
});

const HOST_PATTERN = /^(\*\.)?[a-z0-9.-]+(:\d{1,5})?$|^\[[0-9a-f:.]+\](:\d{1,5})?$/;

/**
 * The policy with `changes` applied, checked: `INVALID_ARGUMENT` for an allow-list entry that is
 * not a host (`host`, `host:port`, `*.domain`), or a non-positive limit.
 */
export function urlFetchPolicy(changes: Partial<UrlFetchPolicy> = {}): UrlFetchPolicy {
  const p = { ...DEFAULT_URL_FETCH_POLICY, ...changes };
  const allowHosts = p.allowHosts.map((h) => h.trim().toLowerCase());
  for (const h of allowHosts) {
    if (!HOST_PATTERN.test(h)) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `--allow-host "${h}" is not a host (host, host:port or *.domain)`,
      );
    }
  }
  for (const [name, v] of [
    ['timeout', p.timeoutMs],
    ['max-bytes', p.maxBytes],
    ['concurrency', p.concurrency],
  ] as const) {
    if (!Number.isSafeInteger(v) || v <= 0) {
      throw new AntidoteError('INVALID_ARGUMENT', `${name} must be a positive integer, got ${v}`);
    }
  }
  if (!Number.isSafeInteger(p.maxRedirects) || p.maxRedirects < 0) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `max redirects must be a non-negative integer, got ${p.maxRedirects}`,
    );
  }
  return { ...p, allowHosts };
}

/** True when `url`'s host matches an entry of `allowHosts` (see {@link UrlFetchPolicy}). */
export function hostAllowed(url: URL, allowHosts: readonly string[]): boolean {
  const name = url.hostname.toLowerCase();
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return allowHosts.some((entry) => {
    const colon = entry.lastIndexOf(':');
    const hasPort = colon > entry.lastIndexOf(']') && colon > 0;
    const pattern = hasPort ? entry.slice(0, colon) : entry;
    if (hasPort && entry.slice(colon + 1) !== port) return false;
    if (pattern.startsWith('*.')) return name.endsWith(pattern.slice(1));
    return name === pattern;
  });
}

/**
 * Why `url` may not be fetched under `allowHosts`, or undefined when it may: not http(s),
 * credentials in the URL, or a host off the allow list.
 */
export function urlRefusal(url: URL, allowHosts: readonly string[]): string | undefined {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return `scheme ${url.protocol} is not fetched (http and https only)`;
  }
  if (url.username || url.password) return 'URLs with credentials are not fetched';
  if (!hostAllowed(url, allowHosts)) return `host ${url.host} is not on the allow list`;
  return undefined;
}
