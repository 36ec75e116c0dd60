<?php
/**
 * The devices section of the profile screen: the user's own (profile.php) and, for those who
 * may edit users, anyone's (user-edit.php). Adding, renaming and removing go through the REST
 * API with the logged-in cookie and the wp_rest nonce, so the secret exists only in the one
 * answer that shows it and is never written anywhere in WordPress.
 *
 * @package Secure_Message_Server
 */

defined( 'ABSPATH' ) || exit;

/** Renders the section and loads its script. */
final class Secure_Message_Profile {

	public static function enqueue( string $hook ): void {
		if ( 'profile.php' !== $hook && 'user-edit.php' !== $hook ) {
			return;
		}
		$user_id = self::screen_user();
		if ( 0 === $user_id || ! current_user_can( 'edit_user', $user_id ) ) {
			return;
		}
		$base = plugin_dir_url( SECURE_MESSAGE_SERVER_FILE );
		wp_enqueue_style( 'secure-message-profile', $base . 'assets/profile.css', array(), SECURE_MESSAGE_SERVER_VERSION );
		wp_enqueue_script( 'secure-message-profile', $base . 'assets/profile.js', array(), SECURE_MESSAGE_SERVER_VERSION, true );
		wp_localize_script(
			'secure-message-profile',
			'secureMessageProfile',
			array(
				'root'    => esc_url_raw( rest_url( Secure_Message_Rest::NAMESPACE . '/' ) ),
				'nonce'   => wp_create_nonce( 'wp_rest' ),
				'user'    => get_current_user_id() === $user_id ? 0 : $user_id,
				'strings' => array(
					'confirmRemove' => __( 'Remove this device? It is logged out at once and can no longer log in.', 'secure-message-server' ),
					'failed'        => __( 'That did not work:', 'secure-message-server' ),
					'nameRequired'  => __( 'Give the device a name.', 'secure-message-server' ),
				),
			)
		);
	}

	/** The user whose screen this is. */
	private static function screen_user(): int {
		// phpcs:ignore WordPress.Security.NonceVerification.Recommended -- only chooses which screen is shown; every change is checked by the REST API.
		return isset( $_GET['user_id'] ) ? absint( $_GET['user_id'] ) : get_current_user_id();
	}

	public static function render( WP_User $user ): void {
		if ( ! current_user_can( 'edit_user', $user->ID ) ) {
			return;
		}
		$devices = Secure_Message_Devices::list_for( $user->ID );
		$labels  = array(
			'on'      => __( 'logged in', 'secure-message-server' ),
			'off'     => __( 'logged out', 'secure-message-server' ),
			'revoked' => __( 'revoked', 'secure-message-server' ),
		);
		?>
		<h2 id="secure-message-devices"><?php esc_html_e( 'Secure message devices', 'secure-message-server' ); ?></h2>
		<div class="secure-message-devices" data-user="<?php echo esc_attr( (string) $user->ID ); ?>">
			<noscript><p><?php esc_html_e( 'Managing devices needs JavaScript.', 'secure-message-server' ); ?></p></noscript>
			<?php if ( is_wp_error( $devices ) ) : ?>
				<div class="notice notice-error inline"><p><?php echo esc_html( $devices->get_error_message() ); ?></p></div>
			<?php else : ?>
				<table class="widefat striped secure-message-device-table">
					<thead><tr>
						<th><?php esc_html_e( 'Name', 'secure-message-server' ); ?></th>
						<th><?php esc_html_e( 'Device id', 'secure-message-server' ); ?></th>
						<th><?php esc_html_e( 'Status', 'secure-message-server' ); ?></th>
						<th><?php esc_html_e( 'Actions', 'secure-message-server' ); ?></th>
					</tr></thead>
					<tbody>
					<?php if ( array() === $devices ) : ?>
						<tr class="secure-message-empty"><td colspan="4"><?php esc_html_e( 'No devices yet.', 'secure-message-server' ); ?></td></tr>
					<?php endif; ?>
					<?php foreach ( $devices as $device ) : ?>
						<tr data-device="<?php echo esc_attr( $device['id'] ); ?>">
							<td><input type="text" class="regular-text secure-message-name" maxlength="<?php echo esc_attr( (string) Secure_Message_Devices::MAX_NAME_CHARS ); ?>" value="<?php echo esc_attr( $device['name'] ); ?>" aria-label="<?php esc_attr_e( 'Device name', 'secure-message-server' ); ?>"></td>
							<td><code><?php echo esc_html( $device['id'] ); ?></code></td>
							<td class="secure-message-status"><?php echo esc_html( $labels[ $device['status'] ?? '' ] ?? ( $device['status'] ?? __( 'unknown', 'secure-message-server' ) ) ); ?></td>
							<td>
								<button type="button" class="button secure-message-rename"><?php esc_html_e( 'Rename', 'secure-message-server' ); ?></button>
								<button type="button" class="button button-link-delete secure-message-remove"><?php esc_html_e( 'Remove', 'secure-message-server' ); ?></button>
							</td>
						</tr>
					<?php endforeach; ?>
					</tbody>
				</table>
				<p class="secure-message-add">
					<label for="secure-message-new-name"><?php esc_html_e( 'New device name', 'secure-message-server' ); ?></label>
					<input type="text" id="secure-message-new-name" class="regular-text" maxlength="<?php echo esc_attr( (string) Secure_Message_Devices::MAX_NAME_CHARS ); ?>">
					<button type="button" class="button button-secondary secure-message-add-button"><?php esc_html_e( 'Add device', 'secure-message-server' ); ?></button>
				</p>
				<div class="secure-message-reveal" hidden>
					<p><strong><?php esc_html_e( 'Copy these now: the secret is shown only this once and is not stored anywhere in WordPress.', 'secure-message-server' ); ?></strong></p>
					<p><?php esc_html_e( 'Client key', 'secure-message-server' ); ?>: <code class="secure-message-key"></code></p>
					<p><?php esc_html_e( 'Secret', 'secure-message-server' ); ?>: <code class="secure-message-secret"></code></p>
					<div class="secure-message-qr-box"></div>
				</div>
				<p class="secure-message-error notice notice-error inline" hidden></p>
			<?php endif; ?>
		</div>
		<?php
	}
}
