/**
 * SPEC §10 as the protocol service sees it: device secrets, revocation rechecks and failure
 * budgets. service.ts calls these; the rules themselves live in this folder.
 */
import type { DirectoryDevice } from '../directory/directory.js';
import { REVOKED_STATUS } from '../directory/device-list.js';
import { secretAccepted, type SecretPolicy } from './device-secret.js';
import type { FailureBudget } from './failure-budget.js';
import type { RevocationCheck } from './revocation.js';

export { FailureBudget, isFailure, type BudgetedOperation, type FailureBudgetSettings } from './failure-budget.js';
export { RevocationCheck } from './revocation.js';
export { generateSecret, secretAccepted, secretSha256, type SecretPolicy } from './device-secret.js';

export interface CredentialRules {
  secrets: SecretPolicy;
  /** Null: no failure budgets (both limits 0). */
  budget: FailureBudget | null;
  /** Null: sessions are never looked up again after their auth (the behaviour before SPEC §10). */
  revocation: RevocationCheck | null;
}

/** What a service built without SPEC §10 settings does: secrets where devices have them, nothing else. */
export const NO_CREDENTIAL_RULES: CredentialRules = { secrets: { requireSecret: false }, budget: null, revocation: null };

/** SPEC §10: a device that may hold a session: in the list and not `revoked`. */
export function deviceAlive(device: DirectoryDevice | null): device is DirectoryDevice {
  return device !== null && device.status !== REVOKED_STATUS;
}

/**
 * Whether `presented` opens the device: alive, and the secret right (or none needed). The secret
 * is compared even for a device that does not exist, so the answer time does not tell them apart.
 */
export function deviceOpens(device: DirectoryDevice | null, presented: string | undefined, policy: SecretPolicy): device is DirectoryDevice {
  const secretOk = secretAccepted(device?.secretSha256 ?? null, presented, policy);
  return deviceAlive(device) && secretOk;
}
