/**
 * Editing a protobuf message at the wire level, without decoding what is not changed: the
 * fields of a message as stored, a length-delimited field written around new bytes, and the
 * concatenation of parts. `./onnx-tensors.ts` (new initializer values) and
 * `./onnx-input-graph.ts` (a new graph input) edit ONNX models this way, so that the fields
 * Antidote does not declare (`./onnx-proto.ts`) are kept byte for byte.
 */
import protobuf from 'protobufjs';

/** Protobuf wire type of length-delimited fields (messages, strings, bytes). */
const LENGTH_DELIMITED = 2;

/** One field of a message as stored. */
export interface WireField {
  /** The field number. */
  readonly id: number;
  /** Where the field (its tag included) starts and ends in the message's bytes. */
  readonly start: number;
  readonly end: number;
  /** The payload of a length-delimited field (an embedded message, a string, bytes). */
  readonly body?: Uint8Array;
}

/** The fields of the protobuf message `bytes`, in order. */
export function wireFields(bytes: Uint8Array): WireField[] {
  const r = protobuf.Reader.create(bytes);
  const out: WireField[] = [];
  while (r.pos < r.len) {
    const start = r.pos;
    const tag = r.uint32();
    const id = tag >>> 3;
    if ((tag & 7) === LENGTH_DELIMITED) {
      const len = r.uint32();
      const at = r.pos;
      r.skip(len);
      out.push({ id, start, end: r.pos, body: bytes.subarray(at, at + len) });
    } else {
      r.skipType(tag & 7);
      out.push({ id, start, end: r.pos });
    }
  }
  return out;
}

/** The length-delimited field `id` holding `body` (tag, length, bytes). */
export function lengthDelimited(id: number, body: Uint8Array): Uint8Array {
  return protobuf.Writer.create()
    .uint32((id << 3) | LENGTH_DELIMITED)
    .bytes(body)
    .finish();
}

/** `parts` one after the other in one new array. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
