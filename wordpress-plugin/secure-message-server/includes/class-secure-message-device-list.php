<?php
/**
 * The `devices` usermeta value (SPEC §3) as a PHP array, in either of its two shapes:
 *   map:  device_id => array( 'name' => ..., 'status' => 'on'|'off', ... )
 *   list: i => array( 'id' => device_id, 'name' => ..., 'status' => ..., ... )
 * Pure functions: every edit returns a new array in the shape it found and keeps every other
 * device and every entry it does not own exactly as they were.
 *
 * @package Secure_Message_Server
 */

defined( 'ABSPATH' ) || exit;

/** Why an edit of the device list was refused. */
final class Secure_Message_Device_List_Exception extends RuntimeException {

	/** @var string 'exists', 'not-found' or 'malformed'. */
	public $reason;

	public function __construct( string $reason, string $message ) {
		parent::__construct( $message );
		$this->reason = $reason;
	}
}

/** Reads and edits a user's device list. */
final class Secure_Message_Device_List {

	public const SHAPE_MAP  = 'map';
	public const SHAPE_LIST = 'list';

	/** SPEC §2: a device id is 1 to 64 characters of these. */
	public const ID_PATTERN = '/^[A-Za-z0-9._:-]{1,64}$/';

	/**
	 * The array a stored meta value holds: empty for no value, null for a value that must not be
	 * edited (not serialized, not an array, or holding an object: never instantiated, SPEC §3).
	 *
	 * @param string|null $meta_value The raw meta_value column.
	 * @return array<int|string, mixed>|null
	 */
	public static function parse( ?string $meta_value ): ?array {
		if ( null === $meta_value || '' === $meta_value ) {
			return array();
		}
		if ( self::holds_objects_or_references( $meta_value ) ) {
			return null;
		}
		$value = @unserialize( $meta_value, array( 'allowed_classes' => false ) ); // phpcs:ignore WordPress.PHP.NoSilencedErrors,WordPress.PHP.DiscouragedPHPFunctions
		if ( ! is_array( $value ) || self::contains_object( $value ) ) {
			return null;
		}
		return $value;
	}

	/**
	 * 'list' when every entry sits under an integer key and is an array with an `id`; a list
	 * whose items were unset() (keys 0, 2, 5) is still a list. Anything else, empty included, is a map.
	 *
	 * @param array<int|string, mixed> $devices
	 */
	public static function shape( array $devices ): string {
		if ( array() === $devices ) {
			return self::SHAPE_MAP;
		}
		foreach ( $devices as $key => $entry ) {
			if ( ! is_int( $key ) || ! is_array( $entry ) || ! array_key_exists( 'id', $entry ) ) {
				return self::SHAPE_MAP;
			}
		}
		return self::SHAPE_LIST;
	}

	/**
	 * Every device in stored order: id, name (its id where it has none), status (null if none).
	 *
	 * @param array<int|string, mixed> $devices
	 * @return array<int, array{id: string, name: string, status: string|null}>
	 */
	public static function devices( array $devices ): array {
		$list   = self::SHAPE_LIST === self::shape( $devices );
		$result = array();
		foreach ( $devices as $key => $entry ) {
			if ( ! is_array( $entry ) ) {
				continue;
			}
			$id = $list ? $entry['id'] : $key;
			if ( ! is_string( $id ) && ! is_int( $id ) ) {
				continue;
			}
			$id       = (string) $id;
			$name     = isset( $entry['name'] ) && ( is_string( $entry['name'] ) || is_int( $entry['name'] ) || is_float( $entry['name'] ) ) ? (string) $entry['name'] : $id;
			$result[] = array(
				'id'     => $id,
				'name'   => $name,
				'status' => isset( $entry['status'] ) && is_string( $entry['status'] ) ? $entry['status'] : null,
			);
		}
		return $result;
	}

	/**
	 * The device's entry, or null.
	 *
	 * @param array<int|string, mixed> $devices
	 * @return array<string, mixed>|null
	 */
	public static function get( array $devices, string $id ): ?array {
		$key = self::key_of( $devices, $id );
		return null === $key ? null : $devices[ $key ];
	}

	/**
	 * Adds a device with status 'off'; `$fields` (e.g. secret_sha256) go into its entry.
	 *
	 * @param array<int|string, mixed> $devices
	 * @param array<string, mixed>     $fields
	 * @return array<int|string, mixed>
	 */
	public static function add( array $devices, string $id, string $name, array $fields = array() ): array {
		if ( 1 !== preg_match( self::ID_PATTERN, $id ) ) {
			throw new Secure_Message_Device_List_Exception( 'malformed', 'a device id is 1 to 64 characters of A-Z a-z 0-9 . _ : -' );
		}
		if ( null !== self::key_of( $devices, $id ) || ( self::SHAPE_MAP === self::shape( $devices ) && array_key_exists( $id, $devices ) ) ) {
			throw new Secure_Message_Device_List_Exception( 'exists', 'that device id is taken' );
		}
		$entry = array_merge(
			array(
				'name'   => $name,
				'status' => 'off',
			),
			$fields
		);
		if ( self::SHAPE_LIST === self::shape( $devices ) ) {
			$devices[] = array_merge( array( 'id' => $id ), $entry );
			return array_values( $devices );
		}
		$devices[ $id ] = $entry;
		return $devices;
	}

	/**
	 * @param array<int|string, mixed> $devices
	 * @return array<int|string, mixed>
	 */
	public static function rename( array $devices, string $id, string $name ): array {
		$key = self::key_of( $devices, $id );
		if ( null === $key ) {
			throw new Secure_Message_Device_List_Exception( 'not-found', 'no such device' );
		}
		$devices[ $key ]['name'] = $name;
		return self::SHAPE_LIST === self::shape( $devices ) ? array_values( $devices ) : $devices;
	}

	/**
	 * @param array<int|string, mixed> $devices
	 * @return array<int|string, mixed>
	 */
	public static function remove( array $devices, string $id ): array {
		$key = self::key_of( $devices, $id );
		if ( null === $key ) {
			throw new Secure_Message_Device_List_Exception( 'not-found', 'no such device' );
		}
		$list = self::SHAPE_LIST === self::shape( $devices );
		unset( $devices[ $key ] );
		return $list ? array_values( $devices ) : $devices;
	}

	/**
	 * Where the device sits: its key in a map (PHP turns "12" into 12, as $devices[$id] does),
	 * the index of the first item with that id in a list.
	 *
	 * @param array<int|string, mixed> $devices
	 * @return int|string|null
	 */
	private static function key_of( array $devices, string $id ) {
		if ( self::SHAPE_LIST === self::shape( $devices ) ) {
			foreach ( $devices as $key => $entry ) {
				if ( ( is_string( $entry['id'] ) || is_int( $entry['id'] ) ) && (string) $entry['id'] === $id ) {
					return $key;
				}
			}
			return null;
		}
		if ( array_key_exists( $id, $devices ) && is_array( $devices[ $id ] ) ) {
			// array_key_exists normalizes "12" to 12 like $devices[$id]; give back the real key.
			foreach ( array_keys( $devices ) as $key ) {
				if ( (string) $key === $id ) {
					return $key;
				}
			}
		}
		return null;
	}

	/** A value serialized with objects (O:, C:) or references (R:, r:) anywhere outside strings. */
	private static function holds_objects_or_references( string $serialized ): bool {
		$length = strlen( $serialized );
		for ( $i = 0; $i < $length; $i++ ) {
			$type = $serialized[ $i ];
			if ( 's' === $type && ':' === ( $serialized[ $i + 1 ] ?? '' ) ) {
				// Skip the string's bytes: s:<len>:"<bytes>";
				$colon = strpos( $serialized, ':', $i + 2 );
				if ( false === $colon ) {
					return true;
				}
				$i = $colon + 1 + (int) substr( $serialized, $i + 2, $colon - $i - 2 ) + 2;
				continue;
			}
			if ( in_array( $type, array( 'O', 'C', 'R', 'r' ), true ) && ':' === ( $serialized[ $i + 1 ] ?? '' ) ) {
				return true;
			}
		}
		return false;
	}

	/** @param array<int|string, mixed> $value */
	private static function contains_object( array $value ): bool {
		foreach ( $value as $item ) {
			if ( is_object( $item ) || ( is_array( $item ) && self::contains_object( $item ) ) ) {
				return true;
			}
		}
		return false;
	}
}
