import { JobTargetError } from '../errors.ts';
import { markOf, type MethodOptions } from './outsideprocess.ts';

/** Where the worker finds services: the plugin manager, or a plain map when embedding. */
export interface ServiceRegistry {
  getService(name: string): unknown;
  hasService(name: string): boolean;
}

/** A {@link ServiceRegistry} over a plain object, for running a worker without plugins. */
export function serviceMap(services: Readonly<Record<string, unknown>>): ServiceRegistry {
  return {
    hasService: (name) => Object.hasOwn(services, name),
    getService: (name) => services[name],
  };
}

/** A resolved, callable job method. */
export interface JobTarget {
  readonly fn: (params: unknown, ctx: unknown) => unknown;
  readonly thisArg: unknown;
  readonly options: MethodOptions;
}

// Names that reach into the object model rather than a service's own API.
const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype', '__defineGetter__', '__defineSetter__', '__lookupGetter__', '__lookupSetter__']);

/**
 * Finds `service.method` and checks it is marked `outsideprocess`. Only data
 * properties are read (a getter is never run), and nothing inherited from
 * Object or Function (`toString`, `call`, ...) qualifies.
 * @throws JobTargetError saying which part is wrong.
 */
export function resolveTarget(registry: ServiceRegistry, service: string, method: string): JobTarget {
  if (!registry.hasService(service)) {
    throw new JobTargetError(`unknown service "${service}": no loaded plugin registers it`);
  }
  if (FORBIDDEN.has(method)) {
    throw new JobTargetError(`"${method}" cannot be a job method of "${service}"`);
  }
  const target = registry.getService(service);
  const fn = findMethod(target, method);
  if (fn === undefined) {
    throw new JobTargetError(`service "${service}" has no method "${method}"`);
  }
  const options = markOf(fn);
  if (options === undefined) {
    throw new JobTargetError(`${service}.${method} is not marked with outsideprocess, so the worker may not call it`);
  }
  return { fn: fn as JobTarget['fn'], thisArg: target, options };
}

function findMethod(target: unknown, method: string): unknown {
  if ((typeof target !== 'object' && typeof target !== 'function') || target === null) return undefined;
  for (let o: object | null = target; o !== null && o !== Object.prototype && o !== Function.prototype; o = Object.getPrototypeOf(o)) {
    const descriptor = Object.getOwnPropertyDescriptor(o, method);
    if (descriptor !== undefined) return 'value' in descriptor ? descriptor.value : undefined;
  }
  return undefined;
}
