/**
 * One guarded download (see `url-policy.ts`): the allow list is checked before the request and at
 * every redirect (a redirect to another host is refused: the split-view attacker's cheapest move,
 * Carlini et al. 2024), the body is streamed against the size cap (a declared `Content-Length`
 * over it is refused before reading), and one deadline covers headers and body.
 */
import { createHash } from 'node:crypto';
import { hostAllowed, type UrlFetchPolicy, urlRefusal } from './url-policy.js';

/** Why a download failed. */
export type DownloadFailure =
  | 'refused' // the URL, or a redirect, is off the policy
  | 'redirect' // too many same-host redirects, or a redirect without a location
  | 'http' // a non-2xx status
  | 'oversize' // the body exceeds the size cap
  | 'timeout' // the deadline passed
  | 'network'; // connection errors

/** The bytes of a successful download, or why it failed. */
export type DownloadResult =
  | {
      readonly ok: true;
      readonly bytes: Uint8Array;
      readonly sha256: string;
      /** The URL the bytes came from (after same-host redirects). */
      readonly finalUrl: string;
    }
  | { readonly ok: false; readonly failure: DownloadFailure; readonly reason: string };

const fail = (failure: DownloadFailure, reason: string): DownloadResult => ({
  ok: false,
  failure,
  reason,
});

/** Reads `body` up to `maxBytes`; undefined when it is longer. */
async function readCapped(
  body: ReadableStream<Uint8Array>,
  maxBytes: number,
): Promise<Uint8Array | undefined> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/**
 * Downloads `url` under `policy` (allow list, redirects, size cap, deadline) and hashes it. Never
 * throws for what the network or the server does: the result says why it failed.
 */
export async function downloadUrl(url: string, policy: UrlFetchPolicy): Promise<DownloadResult> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), policy.timeoutMs);
  try {
    let current = new URL(url);
    const origin = current.host;
    for (let hop = 0; ; hop++) {
      const refusal = urlRefusal(current, policy.allowHosts);
      if (refusal)
        return fail('refused', hop ? `redirect to ${current.href}: ${refusal}` : refusal);
      const res = await fetch(current, { redirect: 'manual', signal: controller.signal });
      if (res.status >= 300 && res.status < 400) {
        await res.body?.cancel().catch(() => undefined);
        const location = res.headers.get('location');
        if (!location) return fail('redirect', `HTTP ${res.status} without a location`);
        const next = new URL(location, current);
        if (next.host !== origin || !hostAllowed(next, policy.allowHosts)) {
          return fail('refused', `redirect off-host to ${next.host} (from ${origin})`);
        }
        if (hop >= policy.maxRedirects) {
          return fail('redirect', `more than ${policy.maxRedirects} redirects`);
        }
        current = next;
        continue;
      }
      if (res.status < 200 || res.status >= 300) {
        await res.body?.cancel().catch(() => undefined);
        return fail('http', `HTTP ${res.status}`);
      }
      const declared = Number(res.headers.get('content-length') ?? Number.NaN);
      if (declared > policy.maxBytes) {
        await res.body?.cancel().catch(() => undefined);
        return fail('oversize', `declares ${declared} bytes, over the cap of ${policy.maxBytes}`);
      }
      const bytes = res.body ? await readCapped(res.body, policy.maxBytes) : new Uint8Array(0);
      if (!bytes) return fail('oversize', `over the cap of ${policy.maxBytes} bytes`);
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      return { ok: true, bytes, sha256, finalUrl: current.href };
    }
  } catch (e) {
    if (controller.signal.aborted)
      return fail('timeout', `no complete answer in ${policy.timeoutMs} ms`);
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    return fail('network', cause?.code ?? cause?.message ?? (e as Error).message);
  } finally {
    clearTimeout(timer);
  }
}
