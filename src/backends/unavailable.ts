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

/** Runs `work` and turns any failure into BackendUnavailableError for `backend`. */
export async function orUnavailable<T>(backend: string, work: () => Promise<T> | T): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof BackendUnavailableError) throw error;
    throw new BackendUnavailableError(backend, error);
  }
}
