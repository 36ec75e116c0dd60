<?php
use PHPUnit\Framework\TestCase;

final class UuidTest extends TestCase {

	public function test_generated_uuids_are_lower_case_version_4_with_the_rfc_variant(): void {
		for ( $i = 0; $i < 2000; $i++ ) {
			$uuid = Secure_Message_Uuid::generate();
			$this->assertMatchesRegularExpression( '/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/', $uuid );
			$this->assertSame( 36, strlen( $uuid ) );
		}
	}

	public function test_generated_uuids_do_not_repeat(): void {
		$seen = array();
		for ( $i = 0; $i < 20000; $i++ ) {
			$seen[ Secure_Message_Uuid::generate() ] = true;
		}
		$this->assertCount( 20000, $seen );
	}

	public function test_only_the_version_and_variant_bits_are_forced(): void {
		$this->assertSame( '00000000-0000-4000-8000-000000000000', Secure_Message_Uuid::from_bytes( str_repeat( "\x00", 16 ) ) );
		$this->assertSame( 'ffffffff-ffff-4fff-bfff-ffffffffffff', Secure_Message_Uuid::from_bytes( str_repeat( "\xff", 16 ) ) );
		$this->assertSame( '00112233-4455-4677-8899-aabbccddeeff', Secure_Message_Uuid::from_bytes( hex2bin( '00112233445566778899aabbccddeeff' ) ) );
	}

	public function test_other_lengths_are_refused(): void {
		$this->expectException( InvalidArgumentException::class );
		Secure_Message_Uuid::from_bytes( str_repeat( "\x00", 15 ) );
	}

	public function test_a_uuid_some_user_holds_is_never_handed_out(): void {
		$asked = array();
		$first = null;
		$uuid  = Secure_Message_Uuid::generate_unique(
			static function ( string $candidate ) use ( &$asked, &$first ): bool {
				$asked[] = $candidate;
				$first ??= $candidate;
				return $candidate === $first; // The first one drawn is "taken".
			}
		);
		$this->assertCount( 2, $asked );
		$this->assertNotSame( $first, $uuid );
		$this->assertSame( $asked[1], $uuid );
	}

	public function test_is_valid(): void {
		$this->assertTrue( Secure_Message_Uuid::is_valid( '0f8fad5b-d9cb-469f-a165-70867728950e' ) );
		$this->assertFalse( Secure_Message_Uuid::is_valid( '0F8FAD5B-D9CB-469F-A165-70867728950E' ) );
		$this->assertFalse( Secure_Message_Uuid::is_valid( '0f8fad5b-d9cb-169f-a165-70867728950e' ) );
	}
}
