<?php
/**
 * The plugin's settings, one option: where the server is, how to reach it, which meta keys the
 * server reads, how messages arrive and how long they are kept.
 *
 * @package Secure_Message_Server
 */

defined( 'ABSPATH' ) || exit;

/** Reads and sanitizes the `secure_message_settings` option. */
final class Secure_Message_Settings {

	public const OPTION = 'secure_message_settings';

	public const DELIVERY_CRON    = 'cron';
	public const DELIVERY_WEBHOOK = 'webhook';
	public const DELIVERY_BOTH    = 'both';

	/** @return array<string, mixed> */
	public static function defaults(): array {
		return array(
			'server_url'       => '',
			'api_token'        => '',
			'webhook_secret'   => '',
			'consumer'         => 'wordpress',
			'delivery'         => self::DELIVERY_CRON,
			'uuid_meta_key'    => 'uuid',
			'devices_meta_key' => 'devices',
			'retention_days'   => 0,
		);
	}

	/** @return array<string, mixed> */
	public static function all(): array {
		$stored = get_option( self::OPTION, array() );
		return array_merge( self::defaults(), is_array( $stored ) ? $stored : array() );
	}

	/** @return mixed */
	public static function get( string $name ) {
		return self::all()[ $name ] ?? null;
	}

	public static function uuid_meta_key(): string {
		return (string) self::get( 'uuid_meta_key' );
	}

	public static function devices_meta_key(): string {
		return (string) self::get( 'devices_meta_key' );
	}

	public static function pulls(): bool {
		return in_array( self::get( 'delivery' ), array( self::DELIVERY_CRON, self::DELIVERY_BOTH ), true );
	}

	public static function accepts_webhooks(): bool {
		return in_array( self::get( 'delivery' ), array( self::DELIVERY_WEBHOOK, self::DELIVERY_BOTH ), true );
	}

	/**
	 * The sanitize callback of register_setting. An empty secret field keeps the stored secret,
	 * so the settings form never has to print a token back into the page.
	 *
	 * @param mixed $input The submitted values.
	 * @return array<string, mixed>
	 */
	public static function sanitize( $input ): array {
		$current = self::all();
		$input   = is_array( $input ) ? wp_unslash( $input ) : array();
		$clean   = $current;

		if ( isset( $input['server_url'] ) ) {
			$url = trim( (string) $input['server_url'] );
			$parts = wp_parse_url( $url );
			if ( '' === $url || ( is_array( $parts ) && in_array( $parts['scheme'] ?? '', array( 'http', 'https' ), true ) && '' !== ( $parts['host'] ?? '' ) ) ) {
				$clean['server_url'] = untrailingslashit( esc_url_raw( $url, array( 'http', 'https' ) ) );
			} else {
				add_settings_error( self::OPTION, 'server_url', __( 'The server URL must be an http or https URL.', 'secure-message-server' ) );
			}
		}
		foreach ( array( 'api_token', 'webhook_secret' ) as $secret ) {
			if ( isset( $input[ $secret ] ) && '' !== trim( (string) $input[ $secret ] ) ) {
				$clean[ $secret ] = trim( (string) $input[ $secret ] );
			}
			if ( ! empty( $input[ 'clear_' . $secret ] ) ) {
				$clean[ $secret ] = '';
			}
		}
		if ( '' !== $clean['api_token'] && 1 !== preg_match( '#^[A-Za-z0-9._~+/=-]{32,256}$#', $clean['api_token'] ) ) {
			add_settings_error( self::OPTION, 'api_token', __( 'An API token is 32 to 256 characters of A-Z a-z 0-9 . _ ~ + / = -.', 'secure-message-server' ) );
			$clean['api_token'] = $current['api_token'];
		}
		if ( '' !== $clean['webhook_secret'] && null === Secure_Message_Webhook_Signature::key( $clean['webhook_secret'] ) ) {
			add_settings_error( self::OPTION, 'webhook_secret', __( 'The webhook secret is whsec_ followed by base64, as the server is given it.', 'secure-message-server' ) );
			$clean['webhook_secret'] = $current['webhook_secret'];
		}
		if ( isset( $input['consumer'] ) ) {
			$consumer = (string) $input['consumer'];
			if ( 1 === preg_match( '/^[A-Za-z0-9._-]{1,64}$/', $consumer ) ) {
				$clean['consumer'] = $consumer;
			} else {
				add_settings_error( self::OPTION, 'consumer', __( 'The consumer name is 1 to 64 characters of A-Z a-z 0-9 . _ -.', 'secure-message-server' ) );
			}
		}
		if ( isset( $input['delivery'] ) && in_array( $input['delivery'], array( self::DELIVERY_CRON, self::DELIVERY_WEBHOOK, self::DELIVERY_BOTH ), true ) ) {
			$clean['delivery'] = $input['delivery'];
		}
		foreach ( array( 'uuid_meta_key', 'devices_meta_key' ) as $meta_key ) {
			if ( isset( $input[ $meta_key ] ) ) {
				$value = sanitize_key( (string) $input[ $meta_key ] );
				if ( '' !== $value && strlen( $value ) <= 255 ) {
					$clean[ $meta_key ] = $value;
				}
			}
		}
		if ( isset( $input['retention_days'] ) ) {
			$clean['retention_days'] = max( 0, min( 36500, absint( $input['retention_days'] ) ) );
		}
		return $clean;
	}
}
