<?php
/**
 * Users' UUIDs (SPEC §2, §14): version 4 from random_bytes, never wp_generate_uuid4() (mt_rand).
 *
 * @package Secure_Message_Server
 */

defined( 'ABSPATH' ) || exit;

/** Makes and checks the user ids the server reads from the uuid meta. */
final class Secure_Message_Uuid {

	public const PATTERN = '/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/';

	/** A random version 4 UUID, lower case (RFC 9562 §5.4). */
	public static function generate(): string {
		return self::from_bytes( random_bytes( 16 ) );
	}

	/** The v4 UUID made of 16 bytes: the version and variant bits set, the other 122 kept. */
	public static function from_bytes( string $bytes ): string {
		if ( 16 !== strlen( $bytes ) ) {
			throw new InvalidArgumentException( 'a UUID is made of 16 bytes' );
		}
		$bytes[6] = chr( ( ord( $bytes[6] ) & 0x0f ) | 0x40 );
		$bytes[8] = chr( ( ord( $bytes[8] ) & 0x3f ) | 0x80 );
		$hex      = bin2hex( $bytes );
		return substr( $hex, 0, 8 ) . '-' . substr( $hex, 8, 4 ) . '-' . substr( $hex, 12, 4 ) . '-' . substr( $hex, 16, 4 ) . '-' . substr( $hex, 20 );
	}

	public static function is_valid( string $uuid ): bool {
		return 1 === preg_match( self::PATTERN, $uuid );
	}

	/**
	 * A UUID that `$taken` says nobody holds yet. A collision of 122 random bits is not expected
	 * in the life of the universe; the check costs one indexed query and makes it impossible.
	 *
	 * @param callable(string): bool $taken True when some user already holds the UUID.
	 */
	public static function generate_unique( callable $taken ): string {
		for ( $attempt = 0; $attempt < 8; $attempt++ ) {
			$uuid = self::generate();
			if ( ! $taken( $uuid ) ) {
				return $uuid;
			}
		}
		throw new RuntimeException( 'no free UUID after 8 attempts: the random source is broken' );
	}
}
