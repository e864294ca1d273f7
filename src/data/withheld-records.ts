/**
 * A record array this process does not hold: the coordinator of a distributed scan, when its
 * workers read the records and a cached outline of the dataset (`jobs/dataset-outline.ts`) gives
 * it everything else (labels, ids, shape, range), never reads their values. Its stand-in is an
 * object that can be passed around, spread into datasets and used as a key, but any look inside
 * it (an element, its length, a method) throws `INVALID_STATE` naming what was withheld: a read
 * that the code path was not meant to make fails loudly instead of seeing wrong values.
 */
import { AntidoteError, isAntidoteError } from '../errors.js';

/**
 * A stand-in for the record values of `what` (a dataset spec, for the message): see the module
 * comment. Typed as a `Float32Array` so that it takes the array's place in a `Dataset`.
 */
export function withheldRecords(what: string): Float32Array {
  const refuse = (): never => {
    throw new AntidoteError(
      'INVALID_STATE',
      `the record values of ${what} are not held by this process (a distributed scan's coordinator reads its outline only); this code path must not read them`,
      { withheld: what },
    );
  };
  return new Proxy(Object.create(null) as object, {
    get: refuse,
    set: refuse,
    has: refuse,
    ownKeys: refuse,
    getOwnPropertyDescriptor: refuse,
    defineProperty: refuse,
    deleteProperty: refuse,
    getPrototypeOf: refuse,
    setPrototypeOf: refuse,
    isExtensible: refuse,
    preventExtensions: refuse,
  }) as Float32Array;
}

/** Whether `e` is the error a look inside a {@link withheldRecords} stand-in throws. */
export function isWithheldRead(e: unknown): boolean {
  return isAntidoteError(e, 'INVALID_STATE') && e.details.withheld !== undefined;
}
