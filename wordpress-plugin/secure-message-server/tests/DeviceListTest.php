<?php
use PHPUnit\Framework\TestCase;

final class DeviceListTest extends TestCase {

	/** A map as a plugin writes it, with entries and types the plugin does not own. */
	private function map(): array {
		return array(
			'phone-01' => array( 'name' => 'Phone', 'status' => 'on', 'battery' => 0.5, 'seen' => 1700000000, 'tags' => array( 'a', null, true ) ),
			'1234'     => array( 'name' => 'Numeric', 'status' => 'off' ),
			'note'     => 'not a device',
		);
	}

	private function list_shape(): array {
		return array(
			array( 'id' => 'a', 'name' => 'A', 'status' => 'on', 'extra' => array( 'x' => 1 ) ),
			array( 'id' => 'b', 'name' => 'B', 'status' => 'off' ),
			array( 'id' => 'c', 'status' => 'revoked' ),
		);
	}

	public function test_shapes(): void {
		$this->assertSame( 'map', Secure_Message_Device_List::shape( array() ) );
		$this->assertSame( 'map', Secure_Message_Device_List::shape( $this->map() ) );
		$this->assertSame( 'list', Secure_Message_Device_List::shape( $this->list_shape() ) );
		$holes = $this->list_shape();
		unset( $holes[1] );
		$this->assertSame( 'list', Secure_Message_Device_List::shape( $holes ), 'a list with an unset() hole is still a list' );
	}

	public function test_listing_a_map_names_missing_names_by_id_and_skips_non_devices(): void {
		$this->assertSame(
			array(
				array( 'id' => 'phone-01', 'name' => 'Phone', 'status' => 'on' ),
				array( 'id' => '1234', 'name' => 'Numeric', 'status' => 'off' ),
			),
			Secure_Message_Device_List::devices( $this->map() )
		);
		$this->assertSame( array( 'id' => 'c', 'name' => 'c', 'status' => 'revoked' ), Secure_Message_Device_List::devices( $this->list_shape() )[2] );
	}

	public function test_adding_to_a_map_keeps_everything_else_byte_for_byte(): void {
		$before = $this->map();
		$after  = Secure_Message_Device_List::add( $before, 'd0123', 'New', array( 'secret_sha256' => str_repeat( 'ab', 32 ) ) );
		$this->assertSame( array( 'name' => 'New', 'status' => 'off', 'secret_sha256' => str_repeat( 'ab', 32 ) ), $after['d0123'] );
		unset( $after['d0123'] );
		$this->assertSame( serialize( $before ), serialize( $after ) );
	}

	public function test_adding_to_a_list_appends_an_item_with_its_id(): void {
		$after = Secure_Message_Device_List::add( $this->list_shape(), 'd9', 'Nine' );
		$this->assertSame( array( 0, 1, 2, 3 ), array_keys( $after ) );
		$this->assertSame( array( 'id' => 'd9', 'name' => 'Nine', 'status' => 'off' ), $after[3] );
		$this->assertSame( array_slice( $this->list_shape(), 0, 3 ), array_slice( $after, 0, 3 ) );
	}

	public function test_a_list_with_holes_is_renumbered_on_every_edit_and_keeps_its_order(): void {
		$holes = $this->list_shape();
		unset( $holes[0] ); // keys 1, 2
		$added = Secure_Message_Device_List::add( $holes, 'z', 'Z' );
		$this->assertSame( array( 0, 1, 2 ), array_keys( $added ) );
		$this->assertSame( array( 'b', 'c', 'z' ), array_column( $added, 'id' ) );

		$renamed = Secure_Message_Device_List::rename( $holes, 'c', 'Sea' );
		$this->assertSame( array( 0, 1 ), array_keys( $renamed ) );
		$this->assertSame( array( 'id' => 'c', 'status' => 'revoked', 'name' => 'Sea' ), $renamed[1] );

		$removed = Secure_Message_Device_List::remove( $holes, 'b' );
		$this->assertSame( array( array( 'id' => 'c', 'status' => 'revoked' ) ), $removed );
	}

	public function test_renaming_changes_only_the_name(): void {
		$map = Secure_Message_Device_List::rename( $this->map(), 'phone-01', 'Grüße ✓' );
		$expected                      = $this->map();
		$expected['phone-01']['name'] = 'Grüße ✓';
		$this->assertSame( serialize( $expected ), serialize( $map ) );

		$list = Secure_Message_Device_List::rename( $this->list_shape(), 'a', 'Eh' );
		$this->assertSame( array( 'id' => 'a', 'name' => 'Eh', 'status' => 'on', 'extra' => array( 'x' => 1 ) ), $list[0] );
		$this->assertSame( array_slice( $this->list_shape(), 1 ), array_slice( $list, 1 ) );
	}

	public function test_a_numeric_device_id_finds_its_integer_key_as_php_does(): void {
		$map = Secure_Message_Device_List::rename( $this->map(), '1234', 'Renamed' );
		$this->assertSame( 'Renamed', $map[1234]['name'] );
		$this->assertArrayNotHasKey( '1234', array_filter( array_keys( $map ), 'is_string' ) );
		$removed = Secure_Message_Device_List::remove( $this->map(), '1234' );
		$this->assertSame( array( 'phone-01', 'note' ), array_keys( $removed ) );
	}

	public function test_removing_from_a_map_keeps_the_others_in_order(): void {
		$after = Secure_Message_Device_List::remove( $this->map(), 'phone-01' );
		$this->assertSame( serialize( array_slice( $this->map(), 1, null, true ) ), serialize( $after ) );
	}

	public function test_removing_from_a_list_renumbers_like_array_values(): void {
		$after = Secure_Message_Device_List::remove( $this->list_shape(), 'a' );
		$this->assertSame( array( 0, 1 ), array_keys( $after ) );
		$this->assertSame( array( 'b', 'c' ), array_column( $after, 'id' ) );
	}

	public function test_unknown_devices_and_taken_ids_are_refused(): void {
		foreach (
			array(
				static fn() => Secure_Message_Device_List::rename( array(), 'x', 'X' ),
				static fn() => Secure_Message_Device_List::remove( array( 'y' => array() ), 'x' ),
				static fn() => Secure_Message_Device_List::remove( array( 'note' => 'not a device' ), 'note' ),
			) as $call
		) {
			try {
				$call();
				$this->fail( 'no exception' );
			} catch ( Secure_Message_Device_List_Exception $e ) {
				$this->assertSame( 'not-found', $e->reason );
			}
		}
		foreach ( array( array( $this->map(), 'phone-01' ), array( $this->map(), 'note' ), array( $this->list_shape(), 'b' ) ) as [ $devices, $id ] ) {
			try {
				Secure_Message_Device_List::add( $devices, $id, 'Again' );
				$this->fail( 'no exception' );
			} catch ( Secure_Message_Device_List_Exception $e ) {
				$this->assertSame( 'exists', $e->reason );
			}
		}
	}

	public function test_device_ids_outside_the_grammar_are_refused(): void {
		foreach ( array( '', 'has space', str_repeat( 'x', 65 ), 'ümlaut' ) as $id ) {
			try {
				Secure_Message_Device_List::add( array(), $id, 'X' );
				$this->fail( "accepted {$id}" );
			} catch ( Secure_Message_Device_List_Exception $e ) {
				$this->assertSame( 'malformed', $e->reason );
			}
		}
		$this->assertArrayHasKey( 'A.b_c:d-9', Secure_Message_Device_List::add( array(), 'A.b_c:d-9', 'X' ) );
	}

	public function test_parse_reads_both_shapes_and_an_empty_value(): void {
		$this->assertSame( array(), Secure_Message_Device_List::parse( null ) );
		$this->assertSame( array(), Secure_Message_Device_List::parse( '' ) );
		$this->assertSame( $this->map(), Secure_Message_Device_List::parse( serialize( $this->map() ) ) );
		$holes = $this->list_shape();
		unset( $holes[1] );
		$this->assertSame( $holes, Secure_Message_Device_List::parse( serialize( $holes ) ) );
		// A string that merely looks like an object is data.
		$tricky = array( 'd' => array( 'name' => 'O:8:"stdClass":0:{} R:1; s:3:"x";' ) );
		$this->assertSame( $tricky, Secure_Message_Device_List::parse( serialize( $tricky ) ) );
	}

	public function test_parse_never_instantiates_objects_and_refuses_references_and_garbage(): void {
		$this->assertNull( Secure_Message_Device_List::parse( 'a:1:{s:1:"d";O:8:"stdClass":0:{}}' ) );
		$this->assertNull( Secure_Message_Device_List::parse( 'a:1:{s:1:"d";C:11:"ArrayObject":21:{x:i:0;a:0:{};m:a:0:{}}}' ) );
		$this->assertNull( Secure_Message_Device_List::parse( 'a:2:{s:1:"a";a:0:{}s:1:"b";R:2;}' ) );
		$this->assertNull( Secure_Message_Device_List::parse( 's:5:"hello";' ) );
		$this->assertNull( Secure_Message_Device_List::parse( 'not serialized' ) );
		$this->assertNull( Secure_Message_Device_List::parse( 'a:1:{s:1:"d";' ) );
	}
}
