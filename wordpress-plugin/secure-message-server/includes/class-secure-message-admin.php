<?php
/**
 * The admin screens: Settings → Secure Message (server, token, webhook secret, meta keys,
 * delivery, retention, "Test connection") and the Messages screen (one's own; everybody's and
 * a CSV export for those who may manage options).
 *
 * @package Secure_Message_Server
 */

defined( 'ABSPATH' ) || exit;

/** Menus, the settings form, the messages list and the admin-post actions. */
final class Secure_Message_Admin {

	private const SETTINGS_PAGE = 'secure-message-settings';
	private const MESSAGES_PAGE = 'secure-message-messages';
	private const TEST_ACTION   = 'secure_message_test_connection';
	private const EXPORT_ACTION = 'secure_message_export_csv';
	private const PULL_ACTION   = 'secure_message_pull_now';

	public static function menus(): void {
		add_options_page( __( 'Secure Message Server', 'secure-message-server' ), __( 'Secure Message', 'secure-message-server' ), 'manage_options', self::SETTINGS_PAGE, array( self::class, 'settings_page' ) );
		add_menu_page( __( 'Secure messages', 'secure-message-server' ), __( 'Messages', 'secure-message-server' ), 'read', self::MESSAGES_PAGE, array( self::class, 'messages_page' ), 'dashicons-lock', 71 );
	}

	public static function register_settings(): void {
		register_setting(
			'secure_message',
			Secure_Message_Settings::OPTION,
			array(
				'type'              => 'array',
				'sanitize_callback' => array( Secure_Message_Settings::class, 'sanitize' ),
				'show_in_rest'      => false,
			)
		);
	}

	public static function settings_page(): void {
		if ( ! current_user_can( 'manage_options' ) ) {
			wp_die( esc_html__( 'You may not change these settings.', 'secure-message-server' ), 403 );
		}
		$s    = Secure_Message_Settings::all();
		$name = Secure_Message_Settings::OPTION;
		$last = Secure_Message_Cron::last_run();
		// phpcs:ignore WordPress.Security.NonceVerification.Recommended -- shows the outcome of an action that was nonce-checked.
		$test = isset( $_GET['secure_message_test'] ) ? sanitize_text_field( wp_unslash( $_GET['secure_message_test'] ) ) : '';
		?>
		<div class="wrap">
			<h1><?php esc_html_e( 'Secure Message Server', 'secure-message-server' ); ?></h1>
			<?php if ( '' !== $test ) : ?>
				<?php $ok = 0 === strpos( $test, 'ok' ); ?>
				<div class="notice <?php echo esc_attr( $ok ? 'notice-success' : 'notice-error' ); ?> secure-message-test-result"><p>
					<?php
					echo esc_html(
						$ok
							/* translators: %s: what the server said */
							? sprintf( __( 'Connected: the server answered (%s).', 'secure-message-server' ), $test )
							/* translators: %s: the error */
							: sprintf( __( 'The connection test failed: %s', 'secure-message-server' ), $test )
					);
					?>
				</p></div>
			<?php endif; ?>
			<form method="post" action="options.php">
				<?php settings_fields( 'secure_message' ); ?>
				<table class="form-table" role="presentation">
					<tr><th scope="row"><label for="sms-server-url"><?php esc_html_e( 'Server URL', 'secure-message-server' ); ?></label></th>
						<td><input type="url" id="sms-server-url" class="regular-text" name="<?php echo esc_attr( $name ); ?>[server_url]" value="<?php echo esc_attr( $s['server_url'] ); ?>" placeholder="https://messages.example.com">
						<p class="description"><?php esc_html_e( 'Where the Secure Message Server answers (its main port, without /api).', 'secure-message-server' ); ?></p></td></tr>
					<tr><th scope="row"><label for="sms-api-token"><?php esc_html_e( 'API token', 'secure-message-server' ); ?></label></th>
						<td><input type="password" id="sms-api-token" class="regular-text" autocomplete="off" name="<?php echo esc_attr( $name ); ?>[api_token]" value="" placeholder="<?php echo esc_attr( '' === $s['api_token'] ? __( 'not set', 'secure-message-server' ) : __( 'set (leave empty to keep)', 'secure-message-server' ) ); ?>">
						<p class="description"><?php esc_html_e( "The token part of one of the server's API_TOKENS (name:token).", 'secure-message-server' ); ?></p></td></tr>
					<tr><th scope="row"><label for="sms-consumer"><?php esc_html_e( 'Consumer name', 'secure-message-server' ); ?></label></th>
						<td><input type="text" id="sms-consumer" name="<?php echo esc_attr( $name ); ?>[consumer]" value="<?php echo esc_attr( $s['consumer'] ); ?>">
						<p class="description"><?php esc_html_e( "The server-side bookmark this site reads after (GET/PUT /v1/consumers/<name>).", 'secure-message-server' ); ?></p></td></tr>
					<tr><th scope="row"><?php esc_html_e( 'Messages arrive by', 'secure-message-server' ); ?></th>
						<td><select name="<?php echo esc_attr( $name ); ?>[delivery]" id="sms-delivery">
							<option value="cron" <?php selected( $s['delivery'], 'cron' ); ?>><?php esc_html_e( 'Reading the consumer API every minute (WP-Cron)', 'secure-message-server' ); ?></option>
							<option value="webhook" <?php selected( $s['delivery'], 'webhook' ); ?>><?php esc_html_e( 'The signed webhook only', 'secure-message-server' ); ?></option>
							<option value="both" <?php selected( $s['delivery'], 'both' ); ?>><?php esc_html_e( 'Both (the webhook at once, the cron job catches anything it missed)', 'secure-message-server' ); ?></option>
						</select>
						<p class="description">
							<?php
							/* translators: %s: the webhook URL */
							echo esc_html( sprintf( __( "Webhook URL for the server's WEBHOOK_URL: %s", 'secure-message-server' ), rest_url( Secure_Message_Rest::NAMESPACE . '/webhook' ) ) );
							?>
						</p></td></tr>
					<tr><th scope="row"><label for="sms-webhook-secret"><?php esc_html_e( 'Webhook secret', 'secure-message-server' ); ?></label></th>
						<td><input type="password" id="sms-webhook-secret" class="regular-text" autocomplete="off" name="<?php echo esc_attr( $name ); ?>[webhook_secret]" value="" placeholder="<?php echo esc_attr( '' === $s['webhook_secret'] ? __( 'not set', 'secure-message-server' ) : __( 'set (leave empty to keep)', 'secure-message-server' ) ); ?>">
						<p class="description"><?php esc_html_e( "The server's WEBHOOK_SECRET (whsec_…).", 'secure-message-server' ); ?></p></td></tr>
					<tr><th scope="row"><label for="sms-uuid-key"><?php esc_html_e( 'UUID meta key', 'secure-message-server' ); ?></label></th>
						<td><input type="text" id="sms-uuid-key" name="<?php echo esc_attr( $name ); ?>[uuid_meta_key]" value="<?php echo esc_attr( $s['uuid_meta_key'] ); ?>">
						<p class="description"><?php esc_html_e( "The same as the server's WP_UUID_META_KEY.", 'secure-message-server' ); ?></p></td></tr>
					<tr><th scope="row"><label for="sms-devices-key"><?php esc_html_e( 'Devices meta key', 'secure-message-server' ); ?></label></th>
						<td><input type="text" id="sms-devices-key" name="<?php echo esc_attr( $name ); ?>[devices_meta_key]" value="<?php echo esc_attr( $s['devices_meta_key'] ); ?>">
						<p class="description"><?php esc_html_e( "The same as the server's WP_DEVICES_META_KEY.", 'secure-message-server' ); ?></p></td></tr>
					<tr><th scope="row"><label for="sms-retention"><?php esc_html_e( 'Keep messages for', 'secure-message-server' ); ?></label></th>
						<td><input type="number" min="0" max="36500" id="sms-retention" name="<?php echo esc_attr( $name ); ?>[retention_days]" value="<?php echo esc_attr( (string) $s['retention_days'] ); ?>"> <?php esc_html_e( 'days (0 = for ever)', 'secure-message-server' ); ?></td></tr>
				</table>
				<?php submit_button(); ?>
			</form>
			<h2><?php esc_html_e( 'Connection', 'secure-message-server' ); ?></h2>
			<?php if ( ! empty( $last['time'] ) ) : ?>
				<p>
					<?php
					echo esc_html(
						sprintf(
							/* translators: 1: date, 2: count, 3: error */
							__( 'Last pull: %1$s, %2$d new messages. %3$s', 'secure-message-server' ),
							wp_date( 'Y-m-d H:i:s', (int) $last['time'] ),
							(int) $last['stored'],
							(string) $last['error']
						)
					);
					?>
				</p>
			<?php endif; ?>
			<form method="post" action="<?php echo esc_url( admin_url( 'admin-post.php' ) ); ?>" style="display:inline">
				<input type="hidden" name="action" value="<?php echo esc_attr( self::TEST_ACTION ); ?>">
				<?php wp_nonce_field( self::TEST_ACTION ); ?>
				<?php submit_button( __( 'Test connection', 'secure-message-server' ), 'secondary', 'submit', false ); ?>
			</form>
			<form method="post" action="<?php echo esc_url( admin_url( 'admin-post.php' ) ); ?>" style="display:inline">
				<input type="hidden" name="action" value="<?php echo esc_attr( self::PULL_ACTION ); ?>">
				<?php wp_nonce_field( self::PULL_ACTION ); ?>
				<?php submit_button( __( 'Fetch messages now', 'secure-message-server' ), 'secondary', 'submit', false ); ?>
			</form>
		</div>
		<?php
	}

	/** Calls the server with the token: GET /v1/consumers/<name> proves the URL, the token and the consumer API. */
	public static function test_connection(): void {
		if ( ! current_user_can( 'manage_options' ) ) {
			wp_die( esc_html__( 'You may not do this.', 'secure-message-server' ), 403 );
		}
		check_admin_referer( self::TEST_ACTION );
		$answer = Secure_Message_Server_Api::consumer();
		$result = is_wp_error( $answer )
			? $answer->get_error_message()
			/* translators: %d: entries not read yet */
			: 'ok, ' . sprintf( __( '%d messages waiting', 'secure-message-server' ), (int) ( $answer['body']['lag'] ?? 0 ) );
		wp_safe_redirect( add_query_arg( 'secure_message_test', rawurlencode( $result ), admin_url( 'options-general.php?page=' . self::SETTINGS_PAGE ) ) );
		exit;
	}

	public static function pull_now(): void {
		if ( ! current_user_can( 'manage_options' ) ) {
			wp_die( esc_html__( 'You may not do this.', 'secure-message-server' ), 403 );
		}
		check_admin_referer( self::PULL_ACTION );
		Secure_Message_Cron::pull();
		wp_safe_redirect( admin_url( 'options-general.php?page=' . self::SETTINGS_PAGE ) );
		exit;
	}

	public static function messages_page(): void {
		if ( ! current_user_can( 'read' ) ) {
			wp_die( esc_html__( 'You may not see messages.', 'secure-message-server' ), 403 );
		}
		$all = current_user_can( 'edit_users' );
		// phpcs:disable WordPress.Security.NonceVerification.Recommended -- filters of a read-only list.
		$user   = $all ? ( isset( $_GET['user'] ) ? absint( $_GET['user'] ) : 0 ) : get_current_user_id();
		$device = isset( $_GET['device'] ) ? sanitize_text_field( wp_unslash( $_GET['device'] ) ) : '';
		$page   = isset( $_GET['paged'] ) ? max( 1, absint( $_GET['paged'] ) ) : 1;
		// phpcs:enable
		if ( 1 !== preg_match( Secure_Message_Device_List::ID_PATTERN, $device ) ) {
			$device = '';
		}
		$per_page = 20;
		$result   = Secure_Message_Messages::query(
			array(
				'user'     => $user,
				'device'   => $device,
				'page'     => $page,
				'per_page' => $per_page,
			)
		);
		$pages    = max( 1, (int) ceil( $result['total'] / $per_page ) );
		?>
		<div class="wrap">
			<h1><?php esc_html_e( 'Secure messages', 'secure-message-server' ); ?></h1>
			<form method="get">
				<input type="hidden" name="page" value="<?php echo esc_attr( self::MESSAGES_PAGE ); ?>">
				<?php if ( $all ) : ?>
					<label><?php esc_html_e( 'User id', 'secure-message-server' ); ?> <input type="number" min="0" name="user" value="<?php echo esc_attr( $user ? (string) $user : '' ); ?>" placeholder="<?php esc_attr_e( 'all', 'secure-message-server' ); ?>"></label>
				<?php endif; ?>
				<label><?php esc_html_e( 'Device id', 'secure-message-server' ); ?> <input type="text" name="device" value="<?php echo esc_attr( $device ); ?>"></label>
				<?php submit_button( __( 'Filter', 'secure-message-server' ), 'secondary', '', false ); ?>
			</form>
			<?php if ( current_user_can( 'manage_options' ) ) : ?>
				<form method="post" action="<?php echo esc_url( admin_url( 'admin-post.php' ) ); ?>">
					<input type="hidden" name="action" value="<?php echo esc_attr( self::EXPORT_ACTION ); ?>">
					<?php wp_nonce_field( self::EXPORT_ACTION ); ?>
					<?php submit_button( __( 'Export all as CSV', 'secure-message-server' ), 'secondary', 'submit', false ); ?>
				</form>
			<?php endif; ?>
			<table class="widefat striped secure-message-messages">
				<thead><tr>
					<th><?php esc_html_e( 'Received', 'secure-message-server' ); ?></th>
					<?php if ( $all ) : ?><th><?php esc_html_e( 'User', 'secure-message-server' ); ?></th><?php endif; ?>
					<th><?php esc_html_e( 'Device', 'secure-message-server' ); ?></th>
					<th><?php esc_html_e( 'Message', 'secure-message-server' ); ?></th>
				</tr></thead>
				<tbody>
				<?php if ( array() === $result['items'] ) : ?>
					<tr><td colspan="4"><?php esc_html_e( 'No messages.', 'secure-message-server' ); ?></td></tr>
				<?php endif; ?>
				<?php foreach ( $result['items'] as $record ) : ?>
					<tr>
						<td><?php echo esc_html( $record['received_at'] ); ?></td>
						<?php if ( $all ) : ?>
							<td><?php $owner = get_userdata( $record['wp_user'] ); echo esc_html( $owner ? $owner->user_login : $record['user_id'] ); ?></td>
						<?php endif; ?>
						<td><?php echo esc_html( $record['device_name'] ); ?> <code><?php echo esc_html( $record['device_id'] ); ?></code></td>
						<td><pre class="secure-message-payload" style="white-space:pre-wrap;margin:0"><?php echo esc_html( $record['payload'] ); ?></pre></td>
					</tr>
				<?php endforeach; ?>
				</tbody>
			</table>
			<?php
			echo wp_kses_post(
				(string) paginate_links(
					array(
						'base'    => add_query_arg( 'paged', '%#%' ),
						'format'  => '',
						'current' => $page,
						'total'   => $pages,
					)
				)
			);
			?>
		</div>
		<?php
	}

	public static function export_csv(): void {
		if ( ! current_user_can( 'manage_options' ) ) {
			wp_die( esc_html__( 'You may not export messages.', 'secure-message-server' ), 403 );
		}
		check_admin_referer( self::EXPORT_ACTION );
		nocache_headers();
		header( 'Content-Type: text/csv; charset=utf-8' );
		header( 'Content-Disposition: attachment; filename=secure-messages-' . gmdate( 'Ymd-His' ) . '.csv' );
		$out = fopen( 'php://output', 'w' );
		Secure_Message_Messages::export_csv( $out );
		fclose( $out ); // phpcs:ignore WordPress.WP.AlternativeFunctions.file_system_read_fclose
		exit;
	}

	public static function hooks(): void {
		add_action( 'admin_menu', array( self::class, 'menus' ) );
		add_action( 'admin_init', array( self::class, 'register_settings' ) );
		add_action( 'admin_post_' . self::TEST_ACTION, array( self::class, 'test_connection' ) );
		add_action( 'admin_post_' . self::PULL_ACTION, array( self::class, 'pull_now' ) );
		add_action( 'admin_post_' . self::EXPORT_ACTION, array( self::class, 'export_csv' ) );
	}
}
