import SuperJSON from 'superjson';
import { describe, expect, it } from 'vitest';
import { SerializationError } from '../../src/errors.ts';
import { deserialize, serialize } from '../../src/serialization/payload.ts';

const roundTrip = (value: unknown): unknown => deserialize(serialize(value));

describe('payload serialization', () => {
  it('round-trips JSON values and the extra types exactly', () => {
    const value = {
      text: 'héllo',
      n: -1.5,
      nested: { list: [1, 'two', null, true, undefined] },
      at: new Date('2026-03-08T07:00:00.123Z'),
      big: 12345678901234567890n,
      map: new Map<unknown, unknown>([['a', 1], [2, new Set(['x'])]]),
      set: new Set([1, 2, 3]),
      missing: undefined,
      bytes: new Uint8Array([0, 1, 255]),
      buffer: Buffer.from('buffer bytes'),
    };
    const back = roundTrip(value) as typeof value;
    expect(back).toEqual(value);
    expect(back.at).toBeInstanceOf(Date);
    expect(typeof back.big).toBe('bigint');
    expect(back.map).toBeInstanceOf(Map);
    expect(back.set).toBeInstanceOf(Set);
    expect(Object.hasOwn(back, 'missing')).toBe(true);
    expect(back.bytes).toBeInstanceOf(Uint8Array);
    expect(Buffer.isBuffer(back.bytes)).toBe(false);
    expect(Buffer.isBuffer(back.buffer)).toBe(true);
    expect(back.buffer.toString()).toBe('buffer bytes');
  });

  it('round-trips top-level primitives, undefined and null', () => {
    for (const value of [null, undefined, 0, 'x', false, 7n, new Date(0)]) expect(roundTrip(value)).toEqual(value);
  });

  it('stores readable text, not code', () => {
    const text = serialize({ user: { name: 'ada' }, at: new Date(0) });
    expect(JSON.parse(text)).toMatchObject({ json: { user: { name: 'ada' }, at: '1970-01-01T00:00:00.000Z' } });
  });

  it.each([
    [{ user: { save() {} } }, 'params.user.save is a function'],
    [{ list: [1, Symbol('s')] }, 'params.list[1] is a symbol'],
    [{ when: new (class Meeting {})() }, 'params.when is an instance of Meeting'],
    [{ re: /x/ }, 'params.re is an instance of RegExp'],
    [{ words: new Uint16Array(2) }, 'params.words is an instance of Uint16Array'],
    [{ bad: new Date(Number.NaN) }, 'params.bad is an invalid Date'],
    [new Map([['k', () => 1]]), 'params.get("k") is a function'],
  ])('refuses %o, naming where it sits', (value, message) => {
    expect(() => serialize(value)).toThrow(SerializationError);
    expect(() => serialize(value)).toThrow(message);
  });

  it('refuses sparse arrays, whose holes would come back as null', () => {
    // eslint-disable-next-line no-sparse-arrays
    expect(() => serialize({ list: [1, , 3] })).toThrow('params.list is a sparse array (it has holes); fill them with undefined or null');
  });

  it('refuses circular references', () => {
    const value: Record<string, unknown> = { a: 1 };
    value.self = value;
    expect(() => serialize(value)).toThrow('params.self is a circular reference');
  });

  it('allows the same object twice when it is not a cycle', () => {
    const shared = { x: 1 };
    expect(roundTrip({ a: shared, b: shared })).toEqual({ a: { x: 1 }, b: { x: 1 } });
  });

  it('writes plain JSON values exactly as superjson would (the fast path is invisible)', () => {
    const values: unknown[] = [
      { a: 1, b: [true, null, 'x'], c: { d: -2.5 } }, [], {}, 'text', 0, null,
      { n: -0 }, [Number.NaN], { inf: Number.POSITIVE_INFINITY }, [1, undefined, 3], { u: undefined }, { toJSON: 'not called' },
    ];
    for (const value of values) {
      expect(serialize(value)).toBe(SuperJSON.stringify(value));
      expect(roundTrip(value)).toEqual(value);
    }
  });

  it('names the root it was given', () => {
    expect(() => serialize({ f: () => 1 }, 'result')).toThrow('result.f is a function');
  });
});
