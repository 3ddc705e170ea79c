import SuperJSON from 'superjson';
import { SerializationError } from '../errors.ts';

/*
 * Params and results are stored as superjson text: plain JSON for the readable
 * part plus a small "meta" map of types JSON cannot express. It is data, never
 * code, so nothing in the database can make the worker run anything.
 *
 * superjson silently drops what it cannot represent (a function becomes
 * nothing, a class instance becomes a plain object). A job that arrives in the
 * worker with half its params missing is worse than an error at `add`, so
 * every value is checked first and refused with the path where it sits.
 */

const serializer = new SuperJSON();

// Buffer is a Uint8Array subclass; without this it would come back as a plain Uint8Array.
serializer.registerCustom<Buffer, string>(
  {
    isApplicable: (value): value is Buffer => Buffer.isBuffer(value),
    serialize: (value) => value.toString('base64'),
    deserialize: (text) => Buffer.from(text, 'base64'),
  },
  'Buffer',
);

/**
 * Turns a value into storable text.
 * @param value JSON values plus `Date`, `BigInt`, `Map`, `Set`, `undefined`, `Uint8Array` and `Buffer`.
 * @param root the name used in error messages, e.g. `params` or `result`.
 * @param maxBytes refuse a stored form larger than this.
 * @throws SerializationError naming where an unsupported value sits (`params.user.save is a function`), or a value too large.
 */
export function serialize(value: unknown, root = 'params', maxBytes = Number.POSITIVE_INFINITY): string {
  if (value === undefined) return UNDEFINED; // what most job methods return
  // Most params are plain JSON: then JSON.stringify gives the same text as superjson, several times faster.
  const plain = isPlainJson(value, 0) || check(value, root, new Set());
  const text = plain ? `{"json":${JSON.stringify(value) ?? 'null'}}` : serializer.stringify(value);
  // Characters ≤ bytes ≤ 3 × characters in UTF-8: count bytes only when it can matter.
  if (text.length * 3 > maxBytes) {
    const bytes = Buffer.byteLength(text);
    if (bytes > maxBytes) {
      throw new SerializationError(root, `${root} is ${bytes} bytes when stored; the limit is ${maxBytes} (config worker.maxPayloadBytes): store large data elsewhere and pass a reference`);
    }
  }
  return text;
}

const UNDEFINED = serializer.stringify(undefined);

/** The inverse of {@link serialize}. */
export function deserialize(text: string): unknown {
  const parsed = JSON.parse(text) as { json: unknown; meta?: unknown };
  // Without type annotations the JSON part is the value; only annotated values need superjson's walk.
  return parsed.meta === undefined ? parsed.json : serializer.deserialize(parsed as Parameters<typeof serializer.deserialize>[0]);
}

/**
 * The common case, answered without building a path string or a Set per
 * value: true when `value` is plain JSON that JSON.stringify keeps exactly.
 * Anything else (or a deep or cyclic value) goes to {@link check}, which says
 * what is wrong and where.
 */
function isPlainJson(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value) && !Object.is(value, -0);
    case 'object':
      break;
    default:
      return false;
  }
  if (value === null) return true;
  if (depth > MAX_FAST_DEPTH) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!(i in value) || !isPlainJson(value[i], depth + 1)) return false;
    return true;
  }
  const proto = Object.getPrototypeOf(value);
  if ((proto !== Object.prototype && proto !== null) || 'toJSON' in value) return false;
  for (const key in value) if (!isPlainJson((value as Record<string, unknown>)[key], depth + 1)) return false;
  return Object.getOwnPropertySymbols(value).length === 0;
}

/** Deeper than this, the careful walk takes over (it also finds cycles). */
const MAX_FAST_DEPTH = 32;

/**
 * Throws for what cannot be stored; otherwise returns whether the value is
 * plain JSON (nothing superjson needs to annotate).
 */
function check(value: unknown, path: string, ancestors: Set<object>): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      // NaN, ±Infinity and -0 do not survive JSON.stringify.
      return Number.isFinite(value) && !Object.is(value, -0);
    case 'bigint':
    case 'undefined':
      return false;
    case 'function':
      throw new SerializationError(path, `${path} is a function; params and results must be data`);
    case 'symbol':
      throw new SerializationError(path, `${path} is a symbol; params and results must be data`);
  }
  if (value === null) return true;
  const object = value as object;
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new SerializationError(path, `${path} is an invalid Date`);
    return false;
  }
  if (value instanceof Uint8Array) {
    // Other typed arrays share this prototype chain check; only exact Uint8Array and Buffer are promised.
    const proto = Object.getPrototypeOf(value);
    if (proto === Uint8Array.prototype || Buffer.isBuffer(value)) return false;
  }
  if (ancestors.has(object)) throw new SerializationError(path, `${path} is a circular reference`);
  ancestors.add(object);
  let plain = true;
  try {
    if (Array.isArray(value)) {
      // Holes would come back as null: refuse rather than change the value.
      if (Object.keys(value).length !== value.length) {
        throw new SerializationError(path, `${path} is a sparse array (it has holes); fill them with undefined or null`);
      }
      value.forEach((item, index) => { plain = check(item, `${path}[${index}]`, ancestors) && plain; });
    } else if (value instanceof Map) {
      plain = false;
      let index = 0;
      for (const [key, item] of value) {
        check(key, `${path}.<key ${index}>`, ancestors);
        check(item, `${path}.get(${describeKey(key)})`, ancestors);
        index += 1;
      }
    } else if (value instanceof Set) {
      plain = false;
      let index = 0;
      for (const item of value) check(item, `${path}.<item ${index++}>`, ancestors);
    } else {
      const proto = Object.getPrototypeOf(object);
      if (proto !== Object.prototype && proto !== null) {
        const kind = (proto as { constructor?: { name?: string } }).constructor?.name ?? 'unknown';
        throw new SerializationError(
          path,
          `${path} is an instance of ${kind}; only plain objects, arrays, Date, BigInt, Map, Set, Uint8Array and Buffer can be stored`,
        );
      }
      if (Object.getOwnPropertySymbols(object).length > 0) {
        throw new SerializationError(path, `${path} has symbol keys, which cannot be stored`);
      }
      for (const [key, item] of Object.entries(object)) plain = check(item, `${path}.${key}`, ancestors) && plain;
      // JSON.stringify would call it; superjson does not.
      if ('toJSON' in object) plain = false;
    }
  } finally {
    ancestors.delete(object);
  }
  return plain;
}

function describeKey(key: unknown): string {
  return typeof key === 'string' ? JSON.stringify(key) : String(key);
}
