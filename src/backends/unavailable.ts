/**
 * The one error every backend throws when it cannot be reached or cannot answer.
 * The HTTP layer turns it into SPEC §1's 503 `unavailable`; anything else that escapes
 * a backend is a bug, logged as such.
 */
export class BackendUnavailableError extends Error {
  constructor(
    readonly backend: string,
    cause: unknown,
  ) {
    super(`${backend} unavailable: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'BackendUnavailableError';
  }
}

/** Errors thrown by a caller's own callback run inside backend work (see callerCallback). */
const callerErrors = new WeakSet<object>();

/**
 * Wraps a callback the caller hands to a backend (the read-modify-write `change` of
 * UsermetaTable.update): what it throws is the caller's own refusal, such as a device that
 * exists already, and must reach the caller as it is rather than pass for an outage.
 */
export function callerCallback<A extends unknown[], R>(callback: (...args: A) => R): (...args: A) => R {
  return (...args) => {
    try {
      return callback(...args);
    } catch (error) {
      if (typeof error === 'object' && error !== null) callerErrors.add(error);
      throw error;
    }
  };
}

/** Runs `work` and turns any failure into BackendUnavailableError for `backend`. */
export async function orUnavailable<T>(backend: string, work: () => Promise<T> | T): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof BackendUnavailableError) throw error;
    if (typeof error === 'object' && error !== null && callerErrors.has(error)) throw error;
    throw new BackendUnavailableError(backend, error);
  }
}
