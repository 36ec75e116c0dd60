<?php
/**
 * Uninstall: the plugin's options, cron jobs and message table go; the users' UUIDs and device
 * lists stay, because the server reads them and the devices in the field depend on them.
 *
 * @package Secure_Message_Server
 */

defined( 'WP_UNINSTALL_PLUGIN' ) || exit;

global $wpdb;
wp_clear_scheduled_hook( 'secure_message_pull' );
wp_clear_scheduled_hook( 'secure_message_purge' );
foreach ( array( 'secure_message_settings', 'secure_message_db_version', 'secure_message_last_pull' ) as $secure_message_option ) {
	delete_option( $secure_message_option );
}
$wpdb->query( "DROP TABLE IF EXISTS {$wpdb->prefix}secure_messages" ); // phpcs:ignore WordPress.DB.DirectDatabaseQuery.SchemaChange -- the plugin's own table; no value in it.
