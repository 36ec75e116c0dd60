<?php
/**
 * PHPUnit bootstrap for the plugin's pure parts: they need no WordPress, only ABSPATH set.
 */
define( 'ABSPATH', __DIR__ . '/' );
$secure_message_includes = dirname( __DIR__ ) . '/includes/';
require $secure_message_includes . 'class-secure-message-uuid.php';
require $secure_message_includes . 'class-secure-message-device-list.php';
require $secure_message_includes . 'class-secure-message-webhook-signature.php';
require $secure_message_includes . 'class-secure-message-qr.php';
