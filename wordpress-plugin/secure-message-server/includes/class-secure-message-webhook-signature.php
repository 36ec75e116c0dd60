<?php
/**
 * Standard Webhooks v1 signatures (SPEC §9): webhook-signature = "v1,<base64 HMAC-SHA256 of
 * '<webhook-id>.<webhook-timestamp>.<body>'>" under the bytes of the secret "whsec_<base64>".
 *
 * @package Secure_Message_Server
 */

defined( 'ABSPATH' ) || exit;

/** Signs and verifies webhook deliveries. */
final class Secure_Message_Webhook_Signature {

	/** Deliveries older or newer than this many seconds are refused (the specification's suggestion). */
	public const TOLERANCE_SECONDS = 300;

	public const OK                = 'ok';
	public const MISSING_HEADERS   = 'missing-headers';
	public const BAD_TIMESTAMP     = 'bad-timestamp';
	public const BAD_SIGNATURE     = 'bad-signature';
	public const NO_SECRET         = 'no-secret';

	/** The key bytes of "whsec_<base64>" (the prefix optional), or null when it is not base64. */
	public static function key( string $secret ): ?string {
		$encoded = 0 === strpos( $secret, 'whsec_' ) ? substr( $secret, 6 ) : $secret;
		$bytes   = base64_decode( $encoded, true );
		return false === $bytes || '' === $bytes ? null : $bytes;
	}

	/** The signature header value for one delivery. */
	public static function sign( string $key, string $id, string $timestamp, string $body ): string {
		return 'v1,' . base64_encode( hash_hmac( 'sha256', $id . '.' . $timestamp . '.' . $body, $key, true ) );
	}

	/**
	 * One of the constants above. The header may list several space-separated signatures
	 * (during a secret rotation); one matching v1 signature is enough.
	 */
	public static function verify( string $secret, string $id, string $timestamp, string $signatures, string $body, int $now, int $tolerance = self::TOLERANCE_SECONDS ): string {
		$key = self::key( $secret );
		if ( null === $key ) {
			return self::NO_SECRET;
		}
		if ( '' === $id || '' === $timestamp || '' === $signatures ) {
			return self::MISSING_HEADERS;
		}
		if ( 1 !== preg_match( '/^[0-9]{1,12}$/', $timestamp ) || abs( $now - (int) $timestamp ) > $tolerance ) {
			return self::BAD_TIMESTAMP;
		}
		$expected = self::sign( $key, $id, $timestamp, $body );
		foreach ( preg_split( '/\s+/', trim( $signatures ) ) as $candidate ) {
			if ( 0 === strpos( $candidate, 'v1,' ) && hash_equals( $expected, $candidate ) ) {
				return self::OK;
			}
		}
		return self::BAD_SIGNATURE;
	}
}
