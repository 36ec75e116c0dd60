/**
 * Base64 with what every runtime of the client has (btoa/atob): Buffer is Node-only and
 * must stay off the browser path.
 */

/** Chunked so String.fromCharCode never gets more arguments than an engine allows. */
const CHUNK = 0x8000;

/** Standard alphabet, padded: the form every server of SPEC §5 accepts. */
export function encodeBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += CHUNK) {
    binary += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  }
  return btoa(binary);
}

/** Standard or URL-safe alphabet, padding optional, whitespace ignored (PEM bodies wrap at 64). */
export function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  let clean = text.replace(/\s+/g, '').replace(/-/g, '+').replace(/_/g, '/');
  clean = clean.replace(/=+$/, '');
  clean += '='.repeat((4 - (clean.length % 4)) % 4);
  // atob throws a DOMException on anything outside the alphabet; callers turn it into their own error.
  const binary = atob(clean);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
