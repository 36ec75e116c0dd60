<?php
/**
 * The server's consumer API (SPEC §9), spoken with the site's API token.
 *
 * @package Secure_Message_Server
 */

defined( 'ABSPATH' ) || exit;

/** One HTTP call to the server: its status and decoded JSON body, or a WP_Error. */
final class Secure_Message_Server_Api {

	private const TIMEOUT_SECONDS = 10;

	/** True when a server URL and an API token are set. */
	public static function configured(): bool {
		return '' !== (string) Secure_Message_Settings::get( 'server_url' ) && '' !== (string) Secure_Message_Settings::get( 'api_token' );
	}

	/**
	 * @param array<string, mixed>|null $body JSON to send.
	 * @return array{status: int, body: array<string, mixed>}|WP_Error
	 */
	public static function request( string $method, string $path, ?array $body = null ) {
		if ( ! self::configured() ) {
			return new WP_Error( 'secure_message_not_configured', __( 'The server URL and API token are not set.', 'secure-message-server' ) );
		}
		$args = array(
			'method'  => $method,
			'timeout' => self::TIMEOUT_SECONDS,
			'headers' => array(
				'Authorization' => 'Bearer ' . Secure_Message_Settings::get( 'api_token' ),
				'Accept'        => 'application/json',
			),
		);
		if ( null !== $body ) {
			$args['headers']['Content-Type'] = 'application/json';
			$args['body']                    = wp_json_encode( $body );
		}
		$response = wp_remote_request( Secure_Message_Settings::get( 'server_url' ) . $path, $args );
		if ( is_wp_error( $response ) ) {
			return $response;
		}
		$decoded = json_decode( wp_remote_retrieve_body( $response ), true );
		return array(
			'status' => (int) wp_remote_retrieve_response_code( $response ),
			'body'   => is_array( $decoded ) ? $decoded : array(),
		);
	}

	/** `DELETE /v1/sessions/<key>`: true when a session was ended or there was none. */
	public static function end_session( string $client_key ) {
		$answer = self::request( 'DELETE', '/v1/sessions/' . rawurlencode( $client_key ) );
		if ( is_wp_error( $answer ) ) {
			return $answer;
		}
		if ( 200 === $answer['status'] || 404 === $answer['status'] ) {
			return true;
		}
		return self::failure( $answer );
	}

	/** @return array{status: int, body: array<string, mixed>}|WP_Error The consumer's bookmark and lag. */
	public static function consumer() {
		$answer = self::request( 'GET', '/v1/consumers/' . rawurlencode( (string) Secure_Message_Settings::get( 'consumer' ) ) );
		if ( is_wp_error( $answer ) ) {
			return $answer;
		}
		return 200 === $answer['status'] && isset( $answer['body']['cursor'] ) && is_string( $answer['body']['cursor'] ) ? $answer : self::failure( $answer );
	}

	/** @return array{status: int, body: array<string, mixed>}|WP_Error Entries after `$cursor`. */
	public static function messages_after( string $cursor, int $limit ) {
		$answer = self::request( 'GET', '/v1/messages?' . http_build_query( array( 'after' => $cursor, 'limit' => $limit ) ) );
		if ( is_wp_error( $answer ) ) {
			return $answer;
		}
		return 200 === $answer['status'] && isset( $answer['body']['messages'], $answer['body']['next'] ) && is_array( $answer['body']['messages'] ) ? $answer : self::failure( $answer );
	}

	/** Moves the bookmark; a 409 (it is past there already: another run moved it) is fine too. */
	public static function move_bookmark( string $cursor ) {
		$answer = self::request( 'PUT', '/v1/consumers/' . rawurlencode( (string) Secure_Message_Settings::get( 'consumer' ) ), array( 'cursor' => $cursor ) );
		if ( is_wp_error( $answer ) ) {
			return $answer;
		}
		return 200 === $answer['status'] || 409 === $answer['status'] ? true : self::failure( $answer );
	}

	/** @param array{status: int, body: array<string, mixed>} $answer */
	private static function failure( array $answer ): WP_Error {
		$text = isset( $answer['body']['message'] ) && is_string( $answer['body']['message'] ) ? $answer['body']['message'] : '';
		if ( isset( $answer['body']['error'] ) && is_string( $answer['body']['error'] ) ) {
			$text .= ': ' . $answer['body']['error'];
		}
		/* translators: 1: HTTP status, 2: the server's message */
		return new WP_Error( 'secure_message_server', sprintf( __( 'The server answered %1$d %2$s', 'secure-message-server' ), $answer['status'], $text ), array( 'status' => $answer['status'] ) );
	}
}
