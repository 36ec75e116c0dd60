/**
 * A secret shared by every process and instance of one installation, kept in its store so they
 * all agree without configuration (issue 10: the HMAC key of the per-request log tag).
 */
export interface InstallationSecretStore {
  /**
   * The secret stored under `name`; when there is none yet, `candidate` is stored (atomically:
   * of two processes racing, both get the one that won). May throw BackendUnavailableError.
   */
  getOrCreate(name: string, candidate: string): Promise<string>;
}
