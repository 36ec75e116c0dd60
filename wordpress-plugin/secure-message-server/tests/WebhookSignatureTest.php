<?php
use PHPUnit\Framework\TestCase;

/**
 * The receiver's check against deliveries signed by an independent implementation: the
 * fixtures file (SECURE_MESSAGE_WEBHOOK_FIXTURES) is written by test/wordpress/plugin.test.ts
 * with the standardwebhooks package (and, where it exists, the server's own signer).
 */
final class WebhookSignatureTest extends TestCase {

	private const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

	/** @return array<int, array<string, mixed>> */
	private function fixtures(): array {
		$path = getenv( 'SECURE_MESSAGE_WEBHOOK_FIXTURES' );
		if ( false === $path || '' === $path ) {
			$this->markTestSkipped( 'SECURE_MESSAGE_WEBHOOK_FIXTURES is not set: run this through npm test' );
		}
		$fixtures = json_decode( (string) file_get_contents( $path ), true );
		$this->assertIsArray( $fixtures );
		$this->assertNotEmpty( $fixtures );
		return $fixtures;
	}

	public function test_signatures_made_by_other_signers_are_accepted(): void {
		foreach ( $this->fixtures() as $f ) {
			$this->assertSame(
				Secure_Message_Webhook_Signature::OK,
				Secure_Message_Webhook_Signature::verify( $f['secret'], $f['id'], $f['timestamp'], $f['signature'], $f['body'], (int) $f['timestamp'] ),
				"signed by {$f['signer']}"
			);
			// And this side's own signature is byte for byte theirs.
			$this->assertSame( $f['signature'], Secure_Message_Webhook_Signature::sign( Secure_Message_Webhook_Signature::key( $f['secret'] ), $f['id'], $f['timestamp'], $f['body'] ), "signed by {$f['signer']}" );
		}
	}

	public function test_any_change_is_refused(): void {
		foreach ( $this->fixtures() as $f ) {
			$now = (int) $f['timestamp'];
			$v   = static fn( $secret, $id, $ts, $sig, $body, $at ) => Secure_Message_Webhook_Signature::verify( $secret, $id, $ts, $sig, $body, $at );
			$this->assertSame( 'bad-signature', $v( $f['secret'], $f['id'], $f['timestamp'], $f['signature'], $f['body'] . ' ', $now ) );
			$this->assertSame( 'bad-signature', $v( $f['secret'], $f['id'] . 'x', $f['timestamp'], $f['signature'], $f['body'], $now ) );
			$this->assertSame( 'bad-signature', $v( $f['secret'], $f['id'], (string) ( $now + 1 ), $f['signature'], $f['body'], $now ) );
			$this->assertSame( 'bad-signature', $v( self::SECRET, $f['id'], $f['timestamp'], $f['signature'], $f['body'], $now ) );
			$this->assertSame( 'bad-signature', $v( $f['secret'], $f['id'], $f['timestamp'], 'v2,' . substr( $f['signature'], 3 ), $f['body'], $now ) );
		}
	}

	public function test_the_timestamp_tolerance(): void {
		$f   = $this->fixtures()[0];
		$now = (int) $f['timestamp'];
		$tol = Secure_Message_Webhook_Signature::TOLERANCE_SECONDS;
		$this->assertSame( 'ok', Secure_Message_Webhook_Signature::verify( $f['secret'], $f['id'], $f['timestamp'], $f['signature'], $f['body'], $now + $tol ) );
		$this->assertSame( 'ok', Secure_Message_Webhook_Signature::verify( $f['secret'], $f['id'], $f['timestamp'], $f['signature'], $f['body'], $now - $tol ) );
		$this->assertSame( 'bad-timestamp', Secure_Message_Webhook_Signature::verify( $f['secret'], $f['id'], $f['timestamp'], $f['signature'], $f['body'], $now + $tol + 1 ) );
		$this->assertSame( 'bad-timestamp', Secure_Message_Webhook_Signature::verify( $f['secret'], $f['id'], $f['timestamp'], $f['signature'], $f['body'], $now - $tol - 1 ) );
		$this->assertSame( 'bad-timestamp', Secure_Message_Webhook_Signature::verify( $f['secret'], $f['id'], '1e9', $f['signature'], $f['body'], $now ) );
	}

	public function test_one_matching_signature_among_several_is_enough(): void {
		$f = $this->fixtures()[0];
		$this->assertSame( 'ok', Secure_Message_Webhook_Signature::verify( $f['secret'], $f['id'], $f['timestamp'], 'v1,AAAA ' . $f['signature'], $f['body'], (int) $f['timestamp'] ) );
	}

	public function test_missing_headers_and_a_bad_secret(): void {
		$this->assertSame( 'missing-headers', Secure_Message_Webhook_Signature::verify( self::SECRET, '', '1', 'v1,x', '{}', 1 ) );
		$this->assertSame( 'missing-headers', Secure_Message_Webhook_Signature::verify( self::SECRET, 'id', '1', '', '{}', 1 ) );
		$this->assertSame( 'no-secret', Secure_Message_Webhook_Signature::verify( 'whsec_!!!', 'id', '1', 'v1,x', '{}', 1 ) );
		$this->assertSame( 'no-secret', Secure_Message_Webhook_Signature::verify( '', 'id', '1', 'v1,x', '{}', 1 ) );
	}
}
