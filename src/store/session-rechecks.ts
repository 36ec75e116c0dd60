/**
 * SPEC §10, revocation: when each session's device is next looked up in the directory. One
 * mark per session, beside the session record rather than inside it, so the §7 record stays
 * byte for byte what existing readers know and is never rewritten on the submit path.
 * Shared by every process through the store: whichever process claims a due recheck does it,
 * and the others wait for the next one. Every method may throw BackendUnavailableError.
 */
export interface SessionRecheckStore {
  /** The session was checked against the directory just now; its next recheck is due in `ms`. */
  checked(key: string, ms: number): Promise<void>;
  /**
   * True when the session's recheck is due (no check within its interval) and this caller has
   * claimed it: the next one is then due in `ms`. Exactly one concurrent caller wins a due recheck.
   */
  claimDue(key: string, ms: number): Promise<boolean>;
  /** Makes the next claim succeed at once (a recheck that could not be finished). */
  release(key: string): Promise<void>;
}
