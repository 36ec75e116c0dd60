<?php
/**
 * For the decoder test: writes the QR code of standard input as a binary PGM image on standard output
 * (8 pixels per module, four-module quiet zone), so zbarimg can read it.
 */
define( 'ABSPATH', __DIR__ );
require dirname( __DIR__ ) . '/includes/class-secure-message-qr.php';
$matrix = Secure_Message_Qr::matrix( stream_get_contents( STDIN ) );
$scale  = 8;
$side   = ( count( $matrix ) + 8 ) * $scale;
$out    = "P5\n$side $side\n255\n";
for ( $py = 0; $py < $side; $py++ ) {
	$y = intdiv( $py, $scale ) - 4;
	for ( $px = 0; $px < $side; $px++ ) {
		$x    = intdiv( $px, $scale ) - 4;
		$dark = $y >= 0 && $x >= 0 && $y < count( $matrix ) && $x < count( $matrix ) && $matrix[ $y ][ $x ];
		$out .= $dark ? "\x00" : "\xff";
	}
}
fwrite( STDOUT, $out );
