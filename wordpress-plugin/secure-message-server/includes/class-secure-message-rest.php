<?php
/**
 * The REST API of SPEC §14, namespace secure-message/v1: a person's devices and messages (the
 * logged-in user's own; another user's with `?user=<id>` and the edit_users capability), and
 * the server's signed webhook.
 *
 * @package Secure_Message_Server
 */

defined( 'ABSPATH' ) || exit;

/** Registers and answers the plugin's routes. */
final class Secure_Message_Rest {

	public const NAMESPACE = 'secure-message/v1';

	private const DEVICE_ID = '(?P<id>[A-Za-z0-9._:-]{1,64})';

	public static function register_routes(): void {
		$user_arg = array(
			'user' => array(
				'type'              => 'integer',
				'minimum'           => 1,
				'sanitize_callback' => 'absint',
			),
		);
		// A device's name, required where one is given (add and rename).
		$name_arg = array(
			'name' => array(
				'type'     => 'string',
				'required' => true,
			),
		);
		register_rest_route(
			self::NAMESPACE,
			'/devices',
			array(
				array(
					'methods'             => WP_REST_Server::READABLE,
					'callback'            => array( self::class, 'list_devices' ),
					'permission_callback' => array( self::class, 'can_manage_devices' ),
					'args'                => $user_arg,
				),
				array(
					'methods'             => WP_REST_Server::CREATABLE,
					'callback'            => array( self::class, 'add_device' ),
					'permission_callback' => array( self::class, 'can_manage_devices' ),
					'args'                => array_merge(
						$user_arg,
						$name_arg,
						array(
							'qr' => array(
								'type' => 'boolean',
							),
						)
					),
				),
			)
		);
		register_rest_route(
			self::NAMESPACE,
			'/devices/' . self::DEVICE_ID,
			array(
				array(
					'methods'             => 'PATCH',
					'callback'            => array( self::class, 'rename_device' ),
					'permission_callback' => array( self::class, 'can_manage_devices' ),
					'args'                => array_merge( $user_arg, $name_arg ),
				),
				array(
					'methods'             => WP_REST_Server::DELETABLE,
					'callback'            => array( self::class, 'remove_device' ),
					'permission_callback' => array( self::class, 'can_manage_devices' ),
					'args'                => $user_arg,
				),
			)
		);
		register_rest_route(
			self::NAMESPACE,
			'/messages',
			array(
				'methods'             => WP_REST_Server::READABLE,
				'callback'            => array( self::class, 'list_messages' ),
				'permission_callback' => array( self::class, 'can_manage_devices' ),
				'args'                => array_merge(
					$user_arg,
					array(
						'device'   => array(
							'type'    => 'string',
							'pattern' => '^[A-Za-z0-9._:-]{1,64}$',
						),
						'page'     => array(
							'type'    => 'integer',
							'minimum' => 1,
							'default' => 1,
						),
						'per_page' => array(
							'type'    => 'integer',
							'minimum' => 1,
							'maximum' => 100,
							'default' => 20,
						),
					)
				),
			)
		);
		register_rest_route(
			self::NAMESPACE,
			'/webhook',
			array(
				'methods'             => WP_REST_Server::CREATABLE,
				'callback'            => array( self::class, 'receive_webhook' ),
				// The signature is the caller's credential: checked here, before anything is read.
				'permission_callback' => array( self::class, 'webhook_is_signed' ),
			)
		);
	}

	/**
	 * Logged in, and either acting on oneself or holding edit_users (and edit_user for that user).
	 *
	 * @return bool|WP_Error
	 */
	public static function can_manage_devices( WP_REST_Request $request ) {
		if ( ! is_user_logged_in() ) {
			return false;
		}
		$user = (int) $request->get_param( 'user' );
		if ( 0 === $user || get_current_user_id() === $user ) {
			return current_user_can( 'read' );
		}
		return current_user_can( 'edit_users' ) && current_user_can( 'edit_user', $user );
	}

	/** The user the request acts on: `?user` or oneself. */
	private static function target( WP_REST_Request $request ) {
		$user = (int) $request->get_param( 'user' );
		if ( 0 === $user ) {
			return get_current_user_id();
		}
		if ( false === get_userdata( $user ) ) {
			return new WP_Error( 'secure_message_no_user', __( 'No such user.', 'secure-message-server' ), array( 'status' => 404 ) );
		}
		return $user;
	}

	public static function list_devices( WP_REST_Request $request ) {
		$user = self::target( $request );
		if ( is_wp_error( $user ) ) {
			return $user;
		}
		$devices = Secure_Message_Devices::list_for( $user );
		return is_wp_error( $devices ) ? $devices : rest_ensure_response( $devices );
	}

	public static function add_device( WP_REST_Request $request ) {
		$user = self::target( $request );
		if ( is_wp_error( $user ) ) {
			return $user;
		}
		$device = Secure_Message_Devices::add( $user, $request->get_param( 'name' ) );
		if ( is_wp_error( $device ) ) {
			return $device;
		}
		if ( true === $request->get_param( 'qr' ) ) {
			$device['qr_svg'] = Secure_Message_Qr::svg( self::qr_text( $device ) );
		}
		$response = rest_ensure_response( $device );
		$response->set_status( 201 );
		// The secret is in this answer only: no cache may keep it (WordPress adds no-cache for logged-in users too).
		$response->header( 'Cache-Control', 'no-store, no-cache, must-revalidate, max-age=0' );
		return $response;
	}

	/**
	 * What the QR code holds: JSON a device app can read in one scan.
	 *
	 * @param array{key: string, secret: string} $device
	 */
	public static function qr_text( array $device ): string {
		return (string) wp_json_encode(
			array(
				'server' => (string) Secure_Message_Settings::get( 'server_url' ),
				'key'    => $device['key'],
				'secret' => $device['secret'],
			),
			JSON_UNESCAPED_SLASHES
		);
	}

	public static function rename_device( WP_REST_Request $request ) {
		$user = self::target( $request );
		if ( is_wp_error( $user ) ) {
			return $user;
		}
		$result = Secure_Message_Devices::rename( $user, (string) $request['id'], $request->get_param( 'name' ) );
		return is_wp_error( $result ) ? $result : rest_ensure_response( $result );
	}

	public static function remove_device( WP_REST_Request $request ) {
		$user = self::target( $request );
		if ( is_wp_error( $user ) ) {
			return $user;
		}
		$result = Secure_Message_Devices::remove( $user, (string) $request['id'] );
		return is_wp_error( $result ) ? $result : rest_ensure_response( $result );
	}

	public static function list_messages( WP_REST_Request $request ) {
		$user = self::target( $request );
		if ( is_wp_error( $user ) ) {
			return $user;
		}
		$per_page = (int) $request->get_param( 'per_page' );
		$result   = Secure_Message_Messages::query(
			array(
				'user'     => $user,
				'device'   => (string) $request->get_param( 'device' ),
				'page'     => (int) $request->get_param( 'page' ),
				'per_page' => $per_page,
			)
		);
		$response = rest_ensure_response( $result['items'] );
		$response->header( 'X-WP-Total', (string) $result['total'] );
		$response->header( 'X-WP-TotalPages', (string) max( 1, (int) ceil( $result['total'] / max( 1, $per_page ) ) ) );
		return $response;
	}

	/** @return true|WP_Error */
	public static function webhook_is_signed( WP_REST_Request $request ) {
		if ( ! Secure_Message_Settings::accepts_webhooks() || '' === (string) Secure_Message_Settings::get( 'webhook_secret' ) ) {
			return new WP_Error( 'secure_message_webhook_off', __( 'This site does not accept webhooks.', 'secure-message-server' ), array( 'status' => 404 ) );
		}
		$verdict = Secure_Message_Webhook_Signature::verify(
			(string) Secure_Message_Settings::get( 'webhook_secret' ),
			(string) $request->get_header( 'webhook-id' ),
			(string) $request->get_header( 'webhook-timestamp' ),
			(string) $request->get_header( 'webhook-signature' ),
			$request->get_body(),
			time()
		);
		if ( Secure_Message_Webhook_Signature::OK !== $verdict ) {
			return new WP_Error( 'secure_message_bad_signature', __( 'The webhook signature or timestamp is not valid.', 'secure-message-server' ), array( 'status' => 401, 'reason' => $verdict ) );
		}
		return true;
	}

	public static function receive_webhook( WP_REST_Request $request ) {
		$id = (string) $request->get_header( 'webhook-id' );
		// Dedupe by webhook-id: a redelivery of a message already here is a success that does nothing.
		if ( Secure_Message_Messages::exists( $id ) ) {
			return rest_ensure_response( array( 'message' => 'duplicate' ) );
		}
		$event = json_decode( $request->get_body(), true );
		if ( ! is_array( $event ) || ! isset( $event['type'] ) ) {
			return new WP_Error( 'secure_message_bad_event', __( 'Not a webhook event.', 'secure-message-server' ), array( 'status' => 400 ) );
		}
		if ( 'message.stored' !== $event['type'] ) {
			// A later server may send other events; acknowledged so it does not retry them.
			return rest_ensure_response( array( 'message' => 'ignored' ) );
		}
		$record = $event['data'] ?? null;
		if ( ! is_array( $record ) || ( $record['id'] ?? null ) !== $id ) {
			return new WP_Error( 'secure_message_bad_event', __( 'The event does not carry the message its webhook-id names.', 'secure-message-server' ), array( 'status' => 400 ) );
		}
		$stored = Secure_Message_Messages::store( $record, 'webhook' );
		if ( is_wp_error( $stored ) ) {
			return $stored;
		}
		return rest_ensure_response( array( 'message' => $stored ? 'stored' : 'duplicate' ) );
	}
}
