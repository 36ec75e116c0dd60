<?php
/**
 * Plugin Name:       Secure Message Server
 * Description:       Makes this site the home of its users' devices for a Secure Message Server: a UUID for every user, devices with secrets on the profile screen, and the devices' messages brought into the site.
 * Version:           0.1.0
 * Requires at least: 6.1
 * Requires PHP:      8.1
 * License:           MIT
 * Text Domain:       secure-message-server
 * Domain Path:       /languages
 *
 * @package Secure_Message_Server
 */

defined( 'ABSPATH' ) || exit;

define( 'SECURE_MESSAGE_SERVER_VERSION', '0.1.0' );
define( 'SECURE_MESSAGE_SERVER_FILE', __FILE__ );

foreach ( array( 'uuid', 'device-list', 'webhook-signature', 'qr', 'settings', 'directory', 'server-api', 'messages', 'devices', 'cron', 'rest', 'profile', 'admin' ) as $secure_message_part ) {
	require_once __DIR__ . '/includes/class-secure-message-' . $secure_message_part . '.php';
}
unset( $secure_message_part );

/** Activation: the table, a UUID for every user without one, the cron jobs. */
function secure_message_activate(): void {
	Secure_Message_Messages::install();
	Secure_Message_Directory::ensure_all_uuids();
	Secure_Message_Cron::schedule();
}
register_activation_hook( __FILE__, 'secure_message_activate' );

function secure_message_deactivate(): void {
	Secure_Message_Cron::unschedule();
}
register_deactivation_hook( __FILE__, 'secure_message_deactivate' );

add_action(
	'init',
	static function (): void {
		load_plugin_textdomain( 'secure-message-server', false, dirname( plugin_basename( __FILE__ ) ) . '/languages' );
		if ( get_option( Secure_Message_Messages::DB_VERSION_OPTION ) !== Secure_Message_Messages::DB_VERSION ) {
			Secure_Message_Messages::install();
		}
	}
);
add_action(
	'user_register',
	static function ( int $user_id ): void {
		Secure_Message_Directory::ensure_uuid( $user_id );
	}
);
add_filter( 'cron_schedules', array( Secure_Message_Cron::class, 'add_schedule' ) );
add_action( Secure_Message_Cron::PULL_HOOK, array( Secure_Message_Cron::class, 'pull' ) );
add_action( Secure_Message_Cron::PURGE_HOOK, array( Secure_Message_Cron::class, 'purge' ) );
add_action( 'rest_api_init', array( Secure_Message_Rest::class, 'register_routes' ) );
add_action( 'show_user_profile', array( Secure_Message_Profile::class, 'render' ) );
add_action( 'edit_user_profile', array( Secure_Message_Profile::class, 'render' ) );
add_action( 'admin_enqueue_scripts', array( Secure_Message_Profile::class, 'enqueue' ) );
Secure_Message_Admin::hooks();
