import { DEFAULT_MAX_ATTEMPTS, methodKey, type MethodDefaults } from '../store/job-store.ts';
import type { MethodOptions } from './outsideprocess.ts';

/** The most methods whose defaults a claim carries. */
const MAX_SENT = 200;

/**
 * The `outsideprocess` defaults of the methods a worker has met in jobs
 * added without them, resolved once each and sent with every claim from then
 * on (ClaimRequest.defaults), so the claim records them itself. Bounded,
 * since every claim carries them: past the bound a method's defaults are
 * still resolved, and cost a write of their own again.
 */
export class MethodDefaultsCache {
  readonly #resolve: (service: string, method: string) => MethodOptions;
  readonly #byMethod = new Map<string, MethodDefaults>();
  #sent: readonly MethodDefaults[] = [];

  /** @param resolve a method's options; throws for an unknown or unmarked method, which gets the global defaults. */
  constructor(resolve: (service: string, method: string) => MethodOptions) {
    this.#resolve = resolve;
  }

  /** What a claim sends. */
  get sent(): readonly MethodDefaults[] {
    return this.#sent;
  }

  of(service: string, method: string): MethodDefaults {
    const key = methodKey(service, method);
    const known = this.#byMethod.get(key);
    if (known !== undefined) return known;
    let options: MethodOptions = {};
    try {
      options = this.#resolve(service, method);
    } catch {
      // An unknown or unmarked method: the attempt fails at once, with the global defaults.
    }
    const defaults: MethodDefaults = {
      service,
      method,
      maxAttempts: options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
      timeoutMs: options.timeout === undefined ? null : Math.round(options.timeout * 1000),
    };
    if (this.#byMethod.size < MAX_SENT) {
      this.#byMethod.set(key, defaults);
      this.#sent = [...this.#byMethod.values()];
    }
    return defaults;
  }
}
