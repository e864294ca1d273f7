/**
 * Verify on load, under a policy (issue 18 item 2, issue 19 item 4): the check the registry
 * (register, promote, rollback), the gate and the server run on a model's signature whenever they
 * load or promote it. The policy (`.antidote/signature-policy.json`, schema in
 * `integrity/policy.ts`) names the trusted keys and CAs, whether a signature is required and where
 * the bundle lives (OMS convention: `model.sig` in the model's folder). A refusal is a typed
 * error (`SIGNATURE_INVALID`, or `INTEGRITY_MISMATCH` for a replayed older signature), written to
 * the hash-chained audit log and raised as a `signature` alert, which the dashboard lists with the
 * monitors' alerts. See docs/signing.md and ../shared/DESIGN.md.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { isOnnxPath } from '../engine/model-summary.js';
import { AntidoteError } from '../errors.js';
import type { AuditEventInput } from '../integrity/audit-log.js';
import type { JsonValue } from '../integrity/canonical-json.js';
import { digestEquals } from '../integrity/hash.js';
import { verifyModel } from '../integrity/model-signing.js';
import { loadSignaturePolicy, type SignaturePolicy } from '../integrity/policy.js';
import { parseBundle, signingMethodOf } from '../integrity/sigstore-bundle.js';
import { readBytes } from '../util/fs.js';
import { modelManifest } from './model-manifest.js';
import { PROJECT_FOLDER } from './store.js';

/** File name of a project's signature policy, in its `.antidote/` folder. */
export const SIGNATURE_POLICY_FILE = 'signature-policy.json';

/** Path of the signature policy of the project in `projectDir`. */
export function signaturePolicyPath(projectDir: string): string {
  return join(projectDir, PROJECT_FOLDER, SIGNATURE_POLICY_FILE);
}

/**
 * The signature policy installed in the project (`.antidote/signature-policy.json`), or undefined
 * when there is none (nothing is checked: the behaviour before the policy existed). A policy file
 * that does not validate throws `INVALID_CONFIG`: a broken policy never means "no policy".
 */
export async function projectSignaturePolicy(
  projectDir: string,
): Promise<SignaturePolicy | undefined> {
  const path = signaturePolicyPath(projectDir);
  return existsSync(path) ? loadSignaturePolicy(path) : undefined;
}

/** What the signature check is about: a registered version, or a model about to be registered. */
export interface SignedSubject {
  /** `name@seq`, or the model name for a model not registered yet. */
  readonly id: string;
  readonly name: string;
  /** The model directory, or the `.onnx` file (signed as the folder holding it). */
  readonly dir: string;
  /** The registered root digest; absent before registration (nothing to pin). */
  readonly rootDigest?: string;
}

/** How a refused model was tampered with, as far as the check can tell. */
export type SignatureTamper = 'missing' | 'untrusted' | 'content' | 'replay' | 'invalid';

/** The outcome of {@link checkSignature}. */
export type SignatureCheck =
  /** No policy installed: not checked. */
  | { readonly status: 'not-checked'; readonly reason: string }
  /** No signature, and the policy does not require one. */
  | { readonly status: 'unsigned'; readonly reason: string }
  | {
      readonly status: 'verified';
      readonly signer: string;
      readonly method: string;
      readonly signaturePath: string;
      readonly notes: readonly string[];
    }
  | {
      readonly status: 'refused';
      readonly code: 'SIGNATURE_INVALID' | 'INTEGRITY_MISMATCH';
      readonly tamper: SignatureTamper;
      readonly reason: string;
      readonly signaturePath?: string;
    };

/** The folder a model's signature covers: the model directory, or the folder of an ONNX file. */
function signedFolder(dir: string): string {
  return isOnnxPath(dir) ? dirname(dir) : dir;
}

function refused(
  tamper: SignatureTamper,
  reason: string,
  signaturePath?: string,
  code: 'SIGNATURE_INVALID' | 'INTEGRITY_MISMATCH' = 'SIGNATURE_INVALID',
): SignatureCheck {
  return { status: 'refused', code, tamper, reason, ...(signaturePath ? { signaturePath } : {}) };
}

/**
 * Checks the signature of `subject` under `policy` (never throws for what it finds: a refusal is
 * a `refused` result; an unreadable policy throws before this is called). The bundle is the first
 * of the policy's `signatureFiles` present in the model's folder; it must be made by a trusted key
 * (key method) or chain to a trusted CA (certificate method), and every file of the folder must
 * match it (OMS v1.0 verification, no unsigned files). With `pinRegisteredContent`, the signed
 * content must be the registered one (`INTEGRITY_MISMATCH`, tamper `replay`, otherwise; see
 * {@link pinned}).
 */
export async function checkSignature(
  subject: SignedSubject,
  policy: SignaturePolicy | undefined,
): Promise<SignatureCheck> {
  if (!policy) {
    return { status: 'not-checked', reason: 'no signature policy installed' };
  }
  const folder = signedFolder(resolve(subject.dir));
  const signaturePath = policy.signatureFiles
    .map((f) => join(folder, f))
    .find((p) => existsSync(p));
  if (!signaturePath) {
    const where = policy.signatureFiles.join(' or ');
    return policy.requireSignature
      ? refused('missing', `${subject.id} carries no signature (${where} in ${folder})`)
      : { status: 'unsigned', reason: `${subject.id} carries no signature (${where})` };
  }
  let method: string;
  try {
    method = signingMethodOf(parseBundle(await readBytes(signaturePath), signaturePath));
  } catch (e) {
    return refused('invalid', (e as Error).message, signaturePath);
  }
  const trust =
    method === 'key'
      ? policy.trustedKeys.length > 0
        ? ({ kind: 'key', keys: policy.trustedKeys } as const)
        : undefined
      : method === 'certificate' && policy.trustedCAs.length > 0
        ? ({ kind: 'certificate', anchors: policy.trustedCAs } as const)
        : undefined;
  if (!trust) {
    return refused(
      'untrusted',
      `${signaturePath} uses the ${method} method, and the signature policy trusts no ${method === 'key' ? 'key' : method === 'certificate' ? 'CA' : 'Sigstore identity'} for it`,
      signaturePath,
    );
  }
  try {
    const r = await verifyModel(folder, trust, { signaturePath });
    if (!r.ok) {
      return refused(
        'content',
        `${subject.id}: the files do not match the signature ${signaturePath}: ${r.problems
          .slice(0, 3)
          .map((p) => p.message)
          .join('; ')}${r.problems.length > 3 ? ` (and ${r.problems.length - 3} more)` : ''}`,
        signaturePath,
      );
    }
    const registered = subject.rootDigest;
    if (policy.pinRegisteredContent && registered !== undefined) {
      const pin = await pinned(subject.dir, registered, [r.contentRoot, r.rootDigest]);
      if (!pin.ok) {
        return refused(
          'replay',
          `${subject.id}: the signed content (root ${pin.found.slice(0, 16)}…) is not the registered version's ${registered.slice(0, 16)}… (replayed or stale signature)`,
          signaturePath,
          'INTEGRITY_MISMATCH',
        );
      }
    }
    return {
      status: 'verified',
      signer: r.signer,
      method: r.method,
      signaturePath,
      notes: r.notes,
    };
  } catch (e) {
    const err = e as AntidoteError;
    if (err instanceof AntidoteError && err.code === 'INTEGRITY_MISMATCH') {
      return refused('replay', err.message, signaturePath, 'INTEGRITY_MISMATCH');
    }
    const untrusted = err instanceof AntidoteError && /trusted|chain|anchor/i.test(err.message);
    return refused(untrusted ? 'untrusted' : 'invalid', err.message, signaturePath);
  }
}

/**
 * Whether the signed content is the registered one: a root the signature yields (the content root
 * over its files, Antidote's own left out, or the OMS subject digest) equals the registered root;
 * else the model's files, which the signature just verified one by one, are hashed as the
 * registry hashes them (needed when the two enumerations differ: a `model.sig` inside a model
 * directory is registered content, `.gitattributes` and the other OMS default exclusions are
 * hashed by the registry but not signed, shard and BLAKE2b signatures give no content root).
 */
async function pinned(
  dir: string,
  registered: string,
  signedRoots: readonly (string | undefined)[],
): Promise<{ ok: true } | { ok: false; found: string }> {
  if (signedRoots.some((d) => d !== undefined && digestEquals(d, registered))) return { ok: true };
  const now = await modelManifest(dir).then(
    (m) => m.rootDigest,
    () => undefined,
  );
  if (now !== undefined && digestEquals(now, registered)) return { ok: true };
  return { ok: false, found: signedRoots.find((d) => d !== undefined) ?? now ?? 'unknown' };
}

/** The typed error of a refused check. */
export function signatureError(
  check: Extract<SignatureCheck, { status: 'refused' }>,
  subject: SignedSubject,
  action: string,
): AntidoteError {
  return new AntidoteError(
    check.code,
    `refusing ${action} of ${subject.id}: ${check.reason}; nothing was changed`,
    {
      version: subject.id,
      path: check.signaturePath ?? subject.dir,
      tamper: check.tamper,
    },
  );
}

/** Where a refusal is recorded: the audit log and the alerts (both in the catalogue). */
export interface RefusalSink {
  audit(entry: AuditEventInput): void;
  alert(a: {
    name: string;
    versionId?: string;
    monitor: string;
    severity: 'warning' | 'critical';
    message: string;
    details: { readonly [key: string]: JsonValue };
  }): void;
}

/**
 * Records a refused check: an audit entry (`action`, outcome `error`, `refused: signature`) and a
 * critical `signature` alert, which the dashboard shows with the other alerts.
 */
export function recordRefusal(
  check: Extract<SignatureCheck, { status: 'refused' }>,
  subject: SignedSubject,
  action: string,
  actor: string,
  sink: RefusalSink,
): void {
  const details = {
    refused: 'signature',
    tamper: check.tamper,
    code: check.code,
    reason: check.reason,
    dir: subject.dir,
    ...(check.signaturePath ? { signature: check.signaturePath } : {}),
  };
  sink.audit({
    actor,
    action,
    subject: `model:${subject.id}`,
    outcome: 'error',
    ...(subject.rootDigest ? { digests: { root: subject.rootDigest } } : {}),
    details,
  });
  const registered = subject.id !== subject.name;
  sink.alert({
    name: subject.name,
    ...(registered ? { versionId: subject.id } : {}),
    monitor: 'signature',
    severity: 'critical',
    message: `${action} refused: ${check.reason}`,
    details: { action, ...details },
  });
}

/**
 * Inside a transition's transaction, before its first stage write: records and throws the
 * refusal of `check` (computed just before the transaction); passes otherwise.
 */
export function requireSignature(
  check: SignatureCheck | undefined,
  subject: SignedSubject,
  action: string,
  actor: string,
  sink: RefusalSink,
): void {
  if (check?.status !== 'refused') return;
  recordRefusal(check, subject, action, actor, sink);
  throw signatureError(check, subject, action);
}
