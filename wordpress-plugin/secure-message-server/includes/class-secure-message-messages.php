<?php
/**
 * The plugin's own table of received messages: one row per message id (SPEC §6), so a page read
 * twice or a webhook delivered twice stores nothing new and fires nothing twice.
 *
 * @package Secure_Message_Server
 */

defined( 'ABSPATH' ) || exit;

/** Stores, lists, exports and expires received messages. */
final class Secure_Message_Messages {

	public const DB_VERSION        = '1';
	public const DB_VERSION_OPTION = 'secure_message_db_version';

	public static function table(): string {
		global $wpdb;
		return $wpdb->prefix . 'secure_messages';
	}

	/** Creates or upgrades the table (dbDelta). */
	public static function install(): void {
		global $wpdb;
		require_once ABSPATH . 'wp-admin/includes/upgrade.php';
		$table   = self::table();
		$charset = $wpdb->get_charset_collate();
		dbDelta(
			"CREATE TABLE {$table} (
  row_id bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  message_id char(64) NOT NULL,
  wp_user_id bigint(20) unsigned NOT NULL DEFAULT 0,
  user_uuid varchar(64) NOT NULL,
  device_id varchar(64) NOT NULL,
  device_name varchar(255) NOT NULL DEFAULT '',
  minute varchar(64) NOT NULL,
  received_at varchar(40) NOT NULL,
  received_gmt datetime NOT NULL,
  payload longtext NOT NULL,
  source varchar(16) NOT NULL,
  stored_gmt datetime NOT NULL,
  PRIMARY KEY  (row_id),
  UNIQUE KEY message_id (message_id),
  KEY user_received (wp_user_id,received_gmt),
  KEY received (received_gmt)
) {$charset};"
		);
		update_option( self::DB_VERSION_OPTION, self::DB_VERSION, false );
	}

	public static function exists( string $message_id ): bool {
		global $wpdb;
		$table = self::table();
		return (bool) $wpdb->get_var( $wpdb->prepare( "SELECT 1 FROM {$table} WHERE message_id = %s", $message_id ) );
	}

	/**
	 * Stores a §7 record unless its id is stored already; fires `secure_message_received` for a new one.
	 *
	 * @param mixed  $record The record as the server sent it.
	 * @param string $source 'cron' or 'webhook'.
	 * @return bool|WP_Error True: new; false: already stored; WP_Error: not a record.
	 */
	public static function store( $record, string $source ) {
		global $wpdb;
		$record = self::validate( $record );
		if ( is_wp_error( $record ) ) {
			return $record;
		}
		$received = strtotime( $record['received_at'] );
		$table    = self::table();
		$inserted = $wpdb->query(
			$wpdb->prepare(
				"INSERT IGNORE INTO {$table} (message_id, wp_user_id, user_uuid, device_id, device_name, minute, received_at, received_gmt, payload, source, stored_gmt) VALUES (%s, %d, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
				$record['id'],
				Secure_Message_Directory::user_by_uuid( $record['user_id'] ),
				$record['user_id'],
				$record['device_id'],
				$record['device_name'],
				(string) $record['minute'],
				$record['received_at'],
				gmdate( 'Y-m-d H:i:s', false === $received ? time() : $received ),
				$record['payload'],
				$source,
				gmdate( 'Y-m-d H:i:s' )
			)
		);
		if ( false === $inserted ) {
			return new WP_Error( 'secure_message_db', __( 'The message could not be stored.', 'secure-message-server' ), array( 'status' => 503 ) );
		}
		if ( 1 !== (int) $inserted ) {
			return false;
		}
		/**
		 * A message arrived that the site did not hold yet (once per message id).
		 *
		 * @param array $record The §7 record: id, user_id (the UUID), device_id, device_name, minute, received_at, payload.
		 */
		do_action( 'secure_message_received', $record );
		return true;
	}

	/**
	 * The fields of a §7 record, or why it is not one.
	 *
	 * @param mixed $record
	 * @return array<string, mixed>|WP_Error
	 */
	public static function validate( $record ) {
		$bad = new WP_Error( 'secure_message_bad_record', __( 'Not a message record.', 'secure-message-server' ), array( 'status' => 400 ) );
		if ( ! is_array( $record ) ) {
			return $bad;
		}
		foreach ( array( 'id', 'user_id', 'device_id', 'received_at', 'payload' ) as $field ) {
			if ( ! isset( $record[ $field ] ) || ! is_string( $record[ $field ] ) ) {
				return $bad;
			}
		}
		if ( 1 !== preg_match( '/^[0-9a-f]{64}$/', $record['id'] ) || 1 !== preg_match( Secure_Message_Device_List::ID_PATTERN, $record['device_id'] ) || strlen( $record['user_id'] ) > 64 ) {
			return $bad;
		}
		if ( ! isset( $record['minute'] ) || ! ( is_int( $record['minute'] ) || ( is_string( $record['minute'] ) && strlen( $record['minute'] ) <= 64 ) ) ) {
			return $bad;
		}
		$record['device_name'] = isset( $record['device_name'] ) && is_string( $record['device_name'] ) ? $record['device_name'] : $record['device_id'];
		return $record;
	}

	/**
	 * Newest first.
	 *
	 * @param array{user?: int, device?: string, page?: int, per_page?: int} $filter user 0 or absent = everybody.
	 * @return array{items: array<int, array<string, mixed>>, total: int}
	 */
	public static function query( array $filter ): array {
		global $wpdb;
		$table  = self::table();
		// Every query has at least one placeholder, so even the unfiltered one goes through prepare.
		$where  = array( 'row_id > %d' );
		$params = array( 0 );
		if ( ! empty( $filter['user'] ) ) {
			$where[]  = 'wp_user_id = %d';
			$params[] = (int) $filter['user'];
		}
		if ( isset( $filter['device'] ) && '' !== $filter['device'] ) {
			$where[]  = 'device_id = %s';
			$params[] = $filter['device'];
		}
		$per_page = max( 1, min( 100, (int) ( $filter['per_page'] ?? 20 ) ) );
		$page     = max( 1, (int) ( $filter['page'] ?? 1 ) );
		$sql      = implode( ' AND ', $where );
		// $sql holds only the fixed fragments above; every value goes through prepare.
		$total = (int) $wpdb->get_var( $wpdb->prepare( "SELECT COUNT(*) FROM {$table} WHERE {$sql}", $params ) ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
		$rows  = $wpdb->get_results(
			$wpdb->prepare( "SELECT * FROM {$table} WHERE {$sql} ORDER BY received_gmt DESC, row_id DESC LIMIT %d OFFSET %d", array_merge( $params, array( $per_page, ( $page - 1 ) * $per_page ) ) ), // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
			ARRAY_A
		);
		return array(
			'items' => array_map( array( self::class, 'to_record' ), $rows ?: array() ),
			'total' => $total,
		);
	}

	/**
	 * A row as the §7 record (plus the WordPress user it belongs to).
	 *
	 * @param array<string, mixed> $row
	 * @return array<string, mixed>
	 */
	public static function to_record( array $row ): array {
		return array(
			'id'          => $row['message_id'],
			'user_id'     => $row['user_uuid'],
			'device_id'   => $row['device_id'],
			'device_name' => $row['device_name'],
			'minute'      => 1 === preg_match( '/^-?[0-9]{1,15}$/', $row['minute'] ) ? (int) $row['minute'] : $row['minute'],
			'received_at' => $row['received_at'],
			'payload'     => $row['payload'],
			'wp_user'     => (int) $row['wp_user_id'],
		);
	}

	/** Deletes messages received more than `$days` days ago; returns how many. */
	public static function purge_older_than( int $days ): int {
		global $wpdb;
		if ( $days <= 0 ) {
			return 0;
		}
		$table = self::table();
		return (int) $wpdb->query( $wpdb->prepare( "DELETE FROM {$table} WHERE received_gmt < %s", gmdate( 'Y-m-d H:i:s', time() - $days * DAY_IN_SECONDS ) ) );
	}

	/** Writes every message (newest first) as CSV to `$out`, in pages so memory stays flat. */
	public static function export_csv( $out ): void {
		fputcsv( $out, array( 'id', 'wp_user', 'user_id', 'device_id', 'device_name', 'minute', 'received_at', 'payload' ) );
		for ( $page = 1; ; $page++ ) {
			$batch = self::query( array( 'page' => $page, 'per_page' => 100 ) );
			foreach ( $batch['items'] as $record ) {
				$row = array( $record['id'], $record['wp_user'], $record['user_id'], $record['device_id'], $record['device_name'], $record['minute'], $record['received_at'], $record['payload'] );
				// A cell starting with = + - @ would be a formula in a spreadsheet (CSV injection).
				$row = array_map(
					static function ( $cell ) {
						$cell = (string) $cell;
						return 1 === preg_match( '/^[=+\-@\t\r]/', $cell ) ? "'" . $cell : $cell;
					},
					$row
				);
				fputcsv( $out, $row );
			}
			if ( count( $batch['items'] ) < 100 ) {
				break;
			}
		}
	}
}
