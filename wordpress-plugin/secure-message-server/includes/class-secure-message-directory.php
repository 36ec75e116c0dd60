<?php
/**
 * The users' UUIDs and device lists in wp_usermeta, read and written the way the server does
 * (SPEC §3): straight from the table, past the object cache, and every change of a device list
 * inside a transaction that holds the row with SELECT … FOR UPDATE.
 *
 * @package Secure_Message_Server
 */

defined( 'ABSPATH' ) || exit;

/** One user's directory entries. */
final class Secure_Message_Directory {

	/** The user's UUID, straight from the table; null when they have none (or more than one). */
	public static function uuid( int $user_id ): ?string {
		global $wpdb;
		$values = $wpdb->get_col(
			$wpdb->prepare( "SELECT meta_value FROM {$wpdb->usermeta} WHERE user_id = %d AND meta_key = %s", $user_id, Secure_Message_Settings::uuid_meta_key() )
		);
		return 1 === count( $values ) && '' !== $values[0] ? (string) $values[0] : null;
	}

	/** The WordPress user holding this UUID, or 0. */
	public static function user_by_uuid( string $uuid ): int {
		global $wpdb;
		$ids = $wpdb->get_col(
			$wpdb->prepare( "SELECT user_id FROM {$wpdb->usermeta} WHERE meta_key = %s AND meta_value = %s LIMIT 2", Secure_Message_Settings::uuid_meta_key(), $uuid )
		);
		return 1 === count( $ids ) ? (int) $ids[0] : 0;
	}

	/** Gives the user a UUID unless they have one; returns it. */
	public static function ensure_uuid( int $user_id ): string {
		global $wpdb;
		$existing = self::uuid( $user_id );
		if ( null !== $existing ) {
			return $existing;
		}
		$key  = Secure_Message_Settings::uuid_meta_key();
		$uuid = Secure_Message_Uuid::generate_unique(
			static function ( string $candidate ) use ( $wpdb, $key ): bool {
				return (bool) $wpdb->get_var( $wpdb->prepare( "SELECT 1 FROM {$wpdb->usermeta} WHERE meta_key = %s AND meta_value = %s LIMIT 1", $key, $candidate ) );
			}
		);
		add_user_meta( $user_id, $key, $uuid, true );
		return (string) self::uuid( $user_id );
	}

	/** Activation: a UUID for every user without one, in batches. Returns how many were given one. */
	public static function ensure_all_uuids(): int {
		global $wpdb;
		$given = 0;
		do {
			$ids = $wpdb->get_col(
				$wpdb->prepare(
					"SELECT u.ID FROM {$wpdb->users} u LEFT JOIN {$wpdb->usermeta} m ON m.user_id = u.ID AND m.meta_key = %s WHERE m.umeta_id IS NULL ORDER BY u.ID LIMIT %d",
					Secure_Message_Settings::uuid_meta_key(),
					500
				)
			);
			foreach ( $ids as $id ) {
				self::ensure_uuid( (int) $id );
				$given++;
			}
		} while ( count( $ids ) === 500 );
		return $given;
	}

	/**
	 * The user's devices as stored right now (id, name, status), past any object cache, so the
	 * status is the one the server last wrote.
	 *
	 * @return array<int, array{id: string, name: string, status: string|null}>|null Null: the stored value is unusable.
	 */
	public static function devices( int $user_id ): ?array {
		global $wpdb;
		$raw     = $wpdb->get_var(
			$wpdb->prepare( "SELECT meta_value FROM {$wpdb->usermeta} WHERE user_id = %d AND meta_key = %s ORDER BY umeta_id LIMIT 1", $user_id, Secure_Message_Settings::devices_meta_key() )
		);
		$devices = Secure_Message_Device_List::parse( null === $raw ? null : (string) $raw );
		return null === $devices ? null : Secure_Message_Device_List::devices( $devices );
	}

	/**
	 * Changes the user's device list under the row lock: `$change` gets the current array and
	 * returns the new one. The user's row in wp_users is locked first, so two first devices
	 * added at once cannot insert two meta rows.
	 *
	 * @param callable(array<int|string, mixed>): array<int|string, mixed> $change
	 * @throws Secure_Message_Device_List_Exception When the stored value is unusable, or `$change` refuses.
	 * @throws RuntimeException When the database fails.
	 */
	public static function edit_devices( int $user_id, callable $change ): void {
		global $wpdb;
		$meta_key = Secure_Message_Settings::devices_meta_key();
		if ( false === $wpdb->query( 'START TRANSACTION' ) ) {
			throw new RuntimeException( 'the database refused a transaction' );
		}
		try {
			$wpdb->get_var( $wpdb->prepare( "SELECT ID FROM {$wpdb->users} WHERE ID = %d FOR UPDATE", $user_id ) );
			$row = $wpdb->get_row(
				$wpdb->prepare( "SELECT umeta_id, meta_value FROM {$wpdb->usermeta} WHERE user_id = %d AND meta_key = %s ORDER BY umeta_id LIMIT 1 FOR UPDATE", $user_id, $meta_key )
			);
			$devices = Secure_Message_Device_List::parse( null === $row ? null : (string) $row->meta_value );
			if ( null === $devices ) {
				throw new Secure_Message_Device_List_Exception( 'malformed', 'the stored device list cannot be read safely (not a serialized array, or it holds objects); it was left as it is' );
			}
			$value = serialize( $change( $devices ) ); // phpcs:ignore WordPress.PHP.DiscouragedPHPFunctions -- the server reads PHP serialize's format.
			$done  = null === $row
				? $wpdb->query( $wpdb->prepare( "INSERT INTO {$wpdb->usermeta} (user_id, meta_key, meta_value) VALUES (%d, %s, %s)", $user_id, $meta_key, $value ) )
				: $wpdb->query( $wpdb->prepare( "UPDATE {$wpdb->usermeta} SET meta_value = %s WHERE umeta_id = %d", $value, (int) $row->umeta_id ) );
			if ( false === $done ) {
				throw new RuntimeException( 'the database refused the write' );
			}
			$wpdb->query( 'COMMIT' );
		} catch ( Throwable $error ) {
			$wpdb->query( 'ROLLBACK' );
			throw $error;
		} finally {
			wp_cache_delete( $user_id, 'user_meta' );
		}
	}
}
