<?php
/**
 * The pull of SPEC §9: read after the server-side bookmark, store, then move the bookmark.
 * Storing first and moving after means a crash in between re-reads a page, which the table's
 * unique message id makes harmless; no message is ever skipped.
 *
 * @package Secure_Message_Server
 */

defined( 'ABSPATH' ) || exit;

/** The cron jobs: pulling messages every minute, expiring old ones daily. */
final class Secure_Message_Cron {

	public const PULL_HOOK     = 'secure_message_pull';
	public const PURGE_HOOK    = 'secure_message_purge';
	public const SCHEDULE      = 'secure_message_every_minute';
	private const PAGE_SIZE    = 100;
	private const PAGES_PER_RUN = 20;
	private const LAST_RUN     = 'secure_message_last_pull';

	/** @param array<string, array<string, mixed>> $schedules */
	public static function add_schedule( array $schedules ): array {
		$schedules[ self::SCHEDULE ] = array(
			'interval' => MINUTE_IN_SECONDS,
			'display'  => __( 'Every minute (Secure Message Server)', 'secure-message-server' ),
		);
		return $schedules;
	}

	public static function schedule(): void {
		if ( ! wp_next_scheduled( self::PULL_HOOK ) ) {
			wp_schedule_event( time(), self::SCHEDULE, self::PULL_HOOK );
		}
		if ( ! wp_next_scheduled( self::PURGE_HOOK ) ) {
			wp_schedule_event( time(), 'daily', self::PURGE_HOOK );
		}
	}

	public static function unschedule(): void {
		wp_clear_scheduled_hook( self::PULL_HOOK );
		wp_clear_scheduled_hook( self::PURGE_HOOK );
	}

	/**
	 * One run: pages until the log is read to its end (or PAGES_PER_RUN pages, the rest next minute).
	 *
	 * @return int|WP_Error How many new messages were stored.
	 */
	public static function pull() {
		if ( ! Secure_Message_Settings::pulls() || ! Secure_Message_Server_Api::configured() ) {
			return 0;
		}
		$stored   = 0;
		$consumer = Secure_Message_Server_Api::consumer();
		if ( is_wp_error( $consumer ) ) {
			return self::finish( $consumer, $stored );
		}
		$cursor = (string) $consumer['body']['cursor'];
		for ( $page = 0; $page < self::PAGES_PER_RUN; $page++ ) {
			$answer = Secure_Message_Server_Api::messages_after( $cursor, self::PAGE_SIZE );
			if ( is_wp_error( $answer ) ) {
				return self::finish( $answer, $stored );
			}
			$items = $answer['body']['messages'];
			foreach ( $items as $item ) {
				$result = Secure_Message_Messages::store( is_array( $item ) ? ( $item['record'] ?? null ) : null, 'cron' );
				if ( true === $result ) {
					$stored++;
				} elseif ( is_wp_error( $result ) && 'secure_message_db' === $result->get_error_code() ) {
					// Not stored: the bookmark must not move past it.
					return self::finish( $result, $stored );
				}
			}
			$next = (string) $answer['body']['next'];
			if ( array() === $items || $next === $cursor ) {
				break;
			}
			$moved = Secure_Message_Server_Api::move_bookmark( $next );
			if ( is_wp_error( $moved ) ) {
				return self::finish( $moved, $stored );
			}
			$cursor = $next;
			if ( count( $items ) < self::PAGE_SIZE ) {
				break;
			}
		}
		return self::finish( null, $stored );
	}

	public static function purge(): int {
		return Secure_Message_Messages::purge_older_than( (int) Secure_Message_Settings::get( 'retention_days' ) );
	}

	/** The outcome of the last run, for the settings page. */
	public static function last_run(): array {
		$last = get_option( self::LAST_RUN, array() );
		return is_array( $last ) ? $last : array();
	}

	/** @return int|WP_Error */
	private static function finish( ?WP_Error $error, int $stored ) {
		update_option(
			self::LAST_RUN,
			array(
				'time'   => time(),
				'stored' => $stored,
				'error'  => null === $error ? '' : $error->get_error_message(),
			),
			false
		);
		return null === $error ? $stored : $error;
	}
}
