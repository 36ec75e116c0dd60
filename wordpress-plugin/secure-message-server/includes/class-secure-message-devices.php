<?php
/**
 * What a person does with devices (SPEC §14), shared by the REST API and the profile screen:
 * add (a generated id and a §10 secret, of which only the SHA-256 is kept), rename, remove
 * (which also ends the device's session on the server), list with the status the server wrote.
 *
 * @package Secure_Message_Server
 */

defined( 'ABSPATH' ) || exit;

/** Device operations on one user's list. */
final class Secure_Message_Devices {

	public const MAX_NAME_CHARS = 100;

	/** A device id nobody can guess in advance: "d" and 16 hex digits (SPEC §2's grammar). */
	public static function generate_id(): string {
		return 'd' . bin2hex( random_bytes( 8 ) );
	}

	/** SPEC §10: 32 random bytes, URL-safe base64 without padding (43 characters). */
	public static function generate_secret(): string {
		return rtrim( strtr( base64_encode( random_bytes( 32 ) ), '+/', '-_' ), '=' );
	}

	/** A cleaned device name, or a WP_Error. */
	public static function clean_name( $name ) {
		$name = is_string( $name ) ? trim( sanitize_text_field( $name ) ) : '';
		if ( '' === $name || mb_strlen( $name ) > self::MAX_NAME_CHARS ) {
			/* translators: %d: the longest name allowed */
			return new WP_Error( 'secure_message_bad_name', sprintf( __( 'A device name is 1 to %d characters.', 'secure-message-server' ), self::MAX_NAME_CHARS ), array( 'status' => 400 ) );
		}
		return $name;
	}

	/**
	 * The user's devices with their client keys, as stored right now.
	 *
	 * @return array<int, array<string, mixed>>|WP_Error
	 */
	public static function list_for( int $user_id ) {
		$devices = Secure_Message_Directory::devices( $user_id );
		if ( null === $devices ) {
			return self::unreadable();
		}
		$uuid = Secure_Message_Directory::uuid( $user_id );
		return array_map(
			static function ( array $device ) use ( $uuid ): array {
				$device['key'] = null === $uuid ? null : $uuid . $device['id'];
				return $device;
			},
			$devices
		);
	}

	/**
	 * Adds a device; the only place its secret ever exists in WordPress is the returned array.
	 *
	 * @return array{id: string, name: string, key: string, secret: string}|WP_Error
	 */
	public static function add( int $user_id, $name ) {
		$name = self::clean_name( $name );
		if ( is_wp_error( $name ) ) {
			return $name;
		}
		$uuid   = Secure_Message_Directory::ensure_uuid( $user_id );
		$id     = '';
		$secret = self::generate_secret();
		try {
			Secure_Message_Directory::edit_devices(
				$user_id,
				static function ( array $devices ) use ( &$id, $name, $secret ): array {
					do {
						$id = self::generate_id();
					} while ( null !== Secure_Message_Device_List::get( $devices, $id ) );
					return Secure_Message_Device_List::add( $devices, $id, $name, array( 'secret_sha256' => hash( 'sha256', $secret ) ) );
				}
			);
		} catch ( Throwable $error ) {
			return self::failure( $error );
		}
		return array(
			'id'     => $id,
			'name'   => $name,
			'key'    => $uuid . $id,
			'secret' => $secret,
		);
	}

	/** @return array{id: string, name: string}|WP_Error */
	public static function rename( int $user_id, string $id, $name ) {
		$name = self::clean_name( $name );
		if ( is_wp_error( $name ) ) {
			return $name;
		}
		try {
			Secure_Message_Directory::edit_devices(
				$user_id,
				static function ( array $devices ) use ( $id, $name ): array {
					return Secure_Message_Device_List::rename( $devices, $id, $name );
				}
			);
		} catch ( Throwable $error ) {
			return self::failure( $error );
		}
		return array(
			'id'   => $id,
			'name' => $name,
		);
	}

	/**
	 * Removes the device from the list first (so it cannot log in again), then ends its session.
	 * The server also ends it on its own within DIRECTORY_RECHECK_SECONDS (SPEC §10) when the
	 * call fails, so a server that is down does not keep a device the user removed.
	 *
	 * @return array{id: string, deleted: bool, session_ended: bool, warning?: string}|WP_Error
	 */
	public static function remove( int $user_id, string $id ) {
		try {
			Secure_Message_Directory::edit_devices(
				$user_id,
				static function ( array $devices ) use ( $id ): array {
					return Secure_Message_Device_List::remove( $devices, $id );
				}
			);
		} catch ( Throwable $error ) {
			return self::failure( $error );
		}
		$result = array(
			'id'            => $id,
			'deleted'       => true,
			'session_ended' => false,
		);
		$uuid = Secure_Message_Directory::uuid( $user_id );
		if ( null !== $uuid && Secure_Message_Server_Api::configured() ) {
			$ended = Secure_Message_Server_Api::end_session( $uuid . $id );
			if ( true === $ended ) {
				$result['session_ended'] = true;
			} else {
				$result['warning'] = $ended->get_error_message();
			}
		}
		return $result;
	}

	private static function failure( Throwable $error ): WP_Error {
		if ( $error instanceof Secure_Message_Device_List_Exception ) {
			$status = array(
				'not-found' => 404,
				'exists'    => 409,
				'malformed' => 409,
			)[ $error->reason ] ?? 400;
			if ( 'not-found' === $error->reason ) {
				return new WP_Error( 'secure_message_no_device', __( 'No such device.', 'secure-message-server' ), array( 'status' => 404 ) );
			}
			return 'malformed' === $error->reason ? self::unreadable() : new WP_Error( 'secure_message_device', $error->getMessage(), array( 'status' => $status ) );
		}
		return new WP_Error( 'secure_message_db', __( 'The device list could not be changed; nothing was changed.', 'secure-message-server' ), array( 'status' => 503 ) );
	}

	private static function unreadable(): WP_Error {
		return new WP_Error( 'secure_message_unreadable', __( "This user's device list is stored in a form the plugin will not edit (not a serialized array, or it holds objects). It was left as it is.", 'secure-message-server' ), array( 'status' => 409 ) );
	}
}
