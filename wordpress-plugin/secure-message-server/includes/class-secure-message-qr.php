<?php
/**
 * A QR code encoder (ISO/IEC 18004): byte mode, error correction level M, versions 1 to 40,
 * the mask with the lowest penalty. Written for this plugin so it needs no library; the tests
 * decode its output with a real decoder (zbarimg) for payloads across the versions.
 *
 * @package Secure_Message_Server
 */

defined( 'ABSPATH' ) || exit;

/** Encodes bytes as a QR code and renders it as SVG. */
final class Secure_Message_Qr {

	/** Error correction codewords per block, level M, index = version. */
	private const ECC_PER_BLOCK = array( -1, 10, 16, 26, 18, 24, 16, 18, 22, 22, 26, 30, 22, 22, 24, 24, 28, 28, 26, 26, 26, 26, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28 );

	/** Error correction blocks, level M, index = version. */
	private const BLOCKS = array( -1, 1, 1, 1, 2, 2, 4, 4, 4, 5, 5, 5, 8, 9, 9, 10, 10, 11, 13, 14, 16, 17, 17, 18, 20, 21, 23, 25, 26, 28, 29, 31, 33, 35, 37, 38, 40, 43, 45, 47, 49 );

	/** Level M's two format bits. */
	private const FORMAT_BITS_M = 0;

	/** @var int */
	private $size;

	/** @var array<int, array<int, bool>> [y][x], true = dark. */
	private $modules = array();

	/** @var array<int, array<int, bool>> [y][x], true = a function module (never masked). */
	private $is_function = array();

	/**
	 * The module matrix of `$data`, rows top to bottom, true = dark (no quiet zone).
	 *
	 * @param string $data The bytes to encode.
	 * @return array<int, array<int, bool>>
	 * @throws InvalidArgumentException When the data does not fit in version 40.
	 */
	public static function matrix( string $data ): array {
		$version = self::smallest_version( strlen( $data ) );
		$qr      = new self( $version );
		return $qr->encode( $data, $version );
	}

	/**
	 * An SVG image of the code for `$data`, with the standard four-module quiet zone.
	 *
	 * @param string $data   The bytes to encode.
	 * @param int    $module Pixels per module.
	 */
	public static function svg( string $data, int $module = 4 ): string {
		$matrix = self::matrix( $data );
		$count  = count( $matrix );
		$side   = ( $count + 8 ) * $module;
		$path   = '';
		foreach ( $matrix as $y => $row ) {
			foreach ( $row as $x => $dark ) {
				if ( $dark ) {
					$path .= 'M' . ( $x + 4 ) . ',' . ( $y + 4 ) . 'h1v1h-1z';
				}
			}
		}
		$view = $count + 8;
		return '<svg xmlns="http://www.w3.org/2000/svg" class="secure-message-qr" width="' . $side . '" height="' . $side
			. '" viewBox="0 0 ' . $view . ' ' . $view . '" shape-rendering="crispEdges" role="img">'
			. '<rect width="100%" height="100%" fill="#fff"/><path d="' . $path . '" fill="#000"/></svg>';
	}

	private function __construct( int $version ) {
		$this->size = $version * 4 + 17;
		$row        = array_fill( 0, $this->size, false );
		$this->modules     = array_fill( 0, $this->size, $row );
		$this->is_function = array_fill( 0, $this->size, $row );
	}

	private static function smallest_version( int $length ): int {
		for ( $version = 1; $version <= 40; $version++ ) {
			$count_bits = $version < 10 ? 8 : 16;
			$needed     = 4 + $count_bits + 8 * $length;
			if ( $needed <= self::data_codewords( $version ) * 8 ) {
				return $version;
			}
		}
		throw new InvalidArgumentException( 'too long for a QR code' );
	}

	/** Data modules of a version (everything but the function patterns), in bits. */
	private static function raw_data_modules( int $version ): int {
		$result = ( 16 * $version + 128 ) * $version + 64;
		if ( $version >= 2 ) {
			$align   = intdiv( $version, 7 ) + 2;
			$result -= ( 25 * $align - 10 ) * $align - 55;
			if ( $version >= 7 ) {
				$result -= 36;
			}
		}
		return $result;
	}

	private static function data_codewords( int $version ): int {
		return intdiv( self::raw_data_modules( $version ), 8 ) - self::ECC_PER_BLOCK[ $version ] * self::BLOCKS[ $version ];
	}

	/** @return array<int, array<int, bool>> */
	private function encode( string $data, int $version ): array {
		// The bit stream: mode "byte", the count, the bytes, a terminator, then pad bytes.
		$bits = array();
		$this->append_bits( $bits, 0x4, 4 );
		$this->append_bits( $bits, strlen( $data ), $version < 10 ? 8 : 16 );
		foreach ( str_split( $data ) as $char ) {
			$this->append_bits( $bits, ord( $char ), 8 );
		}
		$capacity = self::data_codewords( $version ) * 8;
		$this->append_bits( $bits, 0, min( 4, $capacity - count( $bits ) ) );
		$this->append_bits( $bits, 0, ( 8 - count( $bits ) % 8 ) % 8 );
		for ( $pad = 0xEC; count( $bits ) < $capacity; $pad ^= 0xEC ^ 0x11 ) {
			$this->append_bits( $bits, $pad, 8 );
		}
		$codewords = array_fill( 0, intdiv( count( $bits ), 8 ), 0 );
		foreach ( $bits as $i => $bit ) {
			$codewords[ $i >> 3 ] |= $bit << ( 7 - ( $i & 7 ) );
		}

		$this->draw_function_patterns( $version );
		$this->draw_codewords( $this->add_ecc_and_interleave( $codewords, $version ) );

		$best_mask    = 0;
		$best_penalty = PHP_INT_MAX;
		for ( $mask = 0; $mask < 8; $mask++ ) {
			$this->apply_mask( $mask );
			$this->draw_format_bits( $mask );
			$penalty = $this->penalty();
			if ( $penalty < $best_penalty ) {
				$best_mask    = $mask;
				$best_penalty = $penalty;
			}
			$this->apply_mask( $mask ); // XOR again: undone.
		}
		$this->apply_mask( $best_mask );
		$this->draw_format_bits( $best_mask );
		return $this->modules;
	}

	/** @param array<int, int> $bits */
	private function append_bits( array &$bits, int $value, int $length ): void {
		for ( $i = $length - 1; $i >= 0; $i-- ) {
			$bits[] = ( $value >> $i ) & 1;
		}
	}

	private function set_function( int $x, int $y, bool $dark ): void {
		$this->modules[ $y ][ $x ]     = $dark;
		$this->is_function[ $y ][ $x ] = true;
	}

	private function draw_function_patterns( int $version ): void {
		for ( $i = 0; $i < $this->size; $i++ ) {
			$this->set_function( 6, $i, 0 === $i % 2 );
			$this->set_function( $i, 6, 0 === $i % 2 );
		}
		$this->draw_finder( 3, 3 );
		$this->draw_finder( $this->size - 4, 3 );
		$this->draw_finder( 3, $this->size - 4 );

		$positions = $this->alignment_positions( $version );
		$count     = count( $positions );
		for ( $i = 0; $i < $count; $i++ ) {
			for ( $j = 0; $j < $count; $j++ ) {
				$on_finder = ( 0 === $i && 0 === $j ) || ( 0 === $i && $count - 1 === $j ) || ( $count - 1 === $i && 0 === $j );
				if ( ! $on_finder ) {
					$this->draw_alignment( $positions[ $i ], $positions[ $j ] );
				}
			}
		}
		// Reserve the format areas now (drawn for real per mask), and draw the version blocks.
		$this->draw_format_bits( 0 );
		if ( $version >= 7 ) {
			$remainder = $version;
			for ( $i = 0; $i < 12; $i++ ) {
				$remainder = ( $remainder << 1 ) ^ ( ( $remainder >> 11 ) * 0x1F25 );
			}
			$bits = $version << 12 | $remainder;
			for ( $i = 0; $i < 18; $i++ ) {
				$dark = 1 === ( ( $bits >> $i ) & 1 );
				$a    = $this->size - 11 + $i % 3;
				$b    = intdiv( $i, 3 );
				$this->set_function( $a, $b, $dark );
				$this->set_function( $b, $a, $dark );
			}
		}
	}

	private function draw_finder( int $x, int $y ): void {
		for ( $dy = -4; $dy <= 4; $dy++ ) {
			for ( $dx = -4; $dx <= 4; $dx++ ) {
				$distance = max( abs( $dx ), abs( $dy ) );
				$xx       = $x + $dx;
				$yy       = $y + $dy;
				if ( $xx >= 0 && $xx < $this->size && $yy >= 0 && $yy < $this->size ) {
					$this->set_function( $xx, $yy, 2 !== $distance && 4 !== $distance );
				}
			}
		}
	}

	private function draw_alignment( int $x, int $y ): void {
		for ( $dy = -2; $dy <= 2; $dy++ ) {
			for ( $dx = -2; $dx <= 2; $dx++ ) {
				$this->set_function( $x + $dx, $y + $dy, 1 !== max( abs( $dx ), abs( $dy ) ) );
			}
		}
	}

	/** @return array<int, int> */
	private function alignment_positions( int $version ): array {
		if ( 1 === $version ) {
			return array();
		}
		$count  = intdiv( $version, 7 ) + 2;
		$step   = 32 === $version ? 26 : intdiv( $version * 4 + $count * 2 + 1, $count * 2 - 2 ) * 2;
		$result = array();
		for ( $i = 0, $position = $this->size - 7; $i < $count - 1; $i++, $position -= $step ) {
			array_unshift( $result, $position );
		}
		array_unshift( $result, 6 );
		return $result;
	}

	private function draw_format_bits( int $mask ): void {
		$data      = self::FORMAT_BITS_M << 3 | $mask;
		$remainder = $data;
		for ( $i = 0; $i < 10; $i++ ) {
			$remainder = ( $remainder << 1 ) ^ ( ( $remainder >> 9 ) * 0x537 );
		}
		$bits = ( $data << 10 | $remainder ) ^ 0x5412;
		$bit  = static function ( int $i ) use ( $bits ): bool {
			return 1 === ( ( $bits >> $i ) & 1 );
		};
		for ( $i = 0; $i <= 5; $i++ ) {
			$this->set_function( 8, $i, $bit( $i ) );
		}
		$this->set_function( 8, 7, $bit( 6 ) );
		$this->set_function( 8, 8, $bit( 7 ) );
		$this->set_function( 7, 8, $bit( 8 ) );
		for ( $i = 9; $i < 15; $i++ ) {
			$this->set_function( 14 - $i, 8, $bit( $i ) );
		}
		for ( $i = 0; $i < 8; $i++ ) {
			$this->set_function( $this->size - 1 - $i, 8, $bit( $i ) );
		}
		for ( $i = 8; $i < 15; $i++ ) {
			$this->set_function( 8, $this->size - 15 + $i, $bit( $i ) );
		}
		$this->set_function( 8, $this->size - 8, true ); // The dark module.
	}

	/**
	 * @param array<int, int> $data
	 * @return array<int, int>
	 */
	private function add_ecc_and_interleave( array $data, int $version ): array {
		$blocks_count   = self::BLOCKS[ $version ];
		$ecc_length     = self::ECC_PER_BLOCK[ $version ];
		$raw_codewords  = intdiv( self::raw_data_modules( $version ), 8 );
		$short_blocks   = $blocks_count - $raw_codewords % $blocks_count;
		$short_length   = intdiv( $raw_codewords, $blocks_count );
		$divisor        = self::rs_divisor( $ecc_length );
		$blocks         = array();
		for ( $i = 0, $k = 0; $i < $blocks_count; $i++ ) {
			$length = $short_length - $ecc_length + ( $i < $short_blocks ? 0 : 1 );
			$chunk  = array_slice( $data, $k, $length );
			$k     += $length;
			$ecc    = self::rs_remainder( $chunk, $divisor );
			if ( $i < $short_blocks ) {
				$chunk[] = 0; // A placeholder, skipped when interleaving.
			}
			$blocks[] = array_merge( $chunk, $ecc );
		}
		$result = array();
		$width  = count( $blocks[0] );
		for ( $i = 0; $i < $width; $i++ ) {
			foreach ( $blocks as $j => $block ) {
				if ( $i !== $short_length - $ecc_length || $j >= $short_blocks ) {
					$result[] = $block[ $i ];
				}
			}
		}
		return $result;
	}

	/** @return array<int, int> */
	private static function rs_divisor( int $degree ): array {
		$result              = array_fill( 0, $degree, 0 );
		$result[ $degree - 1 ] = 1;
		$root                = 1;
		for ( $i = 0; $i < $degree; $i++ ) {
			for ( $j = 0; $j < $degree; $j++ ) {
				$result[ $j ] = self::gf_multiply( $result[ $j ], $root );
				if ( $j + 1 < $degree ) {
					$result[ $j ] ^= $result[ $j + 1 ];
				}
			}
			$root = self::gf_multiply( $root, 0x02 );
		}
		return $result;
	}

	/**
	 * @param array<int, int> $data
	 * @param array<int, int> $divisor
	 * @return array<int, int>
	 */
	private static function rs_remainder( array $data, array $divisor ): array {
		$result = array_fill( 0, count( $divisor ), 0 );
		foreach ( $data as $byte ) {
			$factor = $byte ^ array_shift( $result );
			$result[] = 0;
			foreach ( $divisor as $i => $coefficient ) {
				$result[ $i ] ^= self::gf_multiply( $coefficient, $factor );
			}
		}
		return $result;
	}

	/** Multiplication in GF(2^8) modulo x^8 + x^4 + x^3 + x^2 + 1. */
	private static function gf_multiply( int $x, int $y ): int {
		$z = 0;
		for ( $i = 7; $i >= 0; $i-- ) {
			$z  = ( $z << 1 ) ^ ( ( $z >> 7 ) * 0x11D );
			$z ^= ( ( $y >> $i ) & 1 ) * $x;
		}
		return $z;
	}

	/** @param array<int, int> $data */
	private function draw_codewords( array $data ): void {
		$total = count( $data ) * 8;
		$i     = 0;
		for ( $right = $this->size - 1; $right >= 1; $right -= 2 ) {
			if ( 6 === $right ) {
				$right = 5;
			}
			for ( $vertical = 0; $vertical < $this->size; $vertical++ ) {
				for ( $j = 0; $j < 2; $j++ ) {
					$x      = $right - $j;
					$upward = 0 === ( ( $right + 1 ) & 2 );
					$y      = $upward ? $this->size - 1 - $vertical : $vertical;
					if ( ! $this->is_function[ $y ][ $x ] && $i < $total ) {
						$this->modules[ $y ][ $x ] = 1 === ( ( $data[ $i >> 3 ] >> ( 7 - ( $i & 7 ) ) ) & 1 );
						$i++;
					}
				}
			}
		}
	}

	private function apply_mask( int $mask ): void {
		for ( $y = 0; $y < $this->size; $y++ ) {
			for ( $x = 0; $x < $this->size; $x++ ) {
				switch ( $mask ) {
					case 0:
						$invert = 0 === ( $x + $y ) % 2;
						break;
					case 1:
						$invert = 0 === $y % 2;
						break;
					case 2:
						$invert = 0 === $x % 3;
						break;
					case 3:
						$invert = 0 === ( $x + $y ) % 3;
						break;
					case 4:
						$invert = 0 === ( intdiv( $x, 3 ) + intdiv( $y, 2 ) ) % 2;
						break;
					case 5:
						$invert = 0 === $x * $y % 2 + $x * $y % 3;
						break;
					case 6:
						$invert = 0 === ( $x * $y % 2 + $x * $y % 3 ) % 2;
						break;
					default:
						$invert = 0 === ( ( $x + $y ) % 2 + $x * $y % 3 ) % 2;
				}
				if ( $invert && ! $this->is_function[ $y ][ $x ] ) {
					$this->modules[ $y ][ $x ] = ! $this->modules[ $y ][ $x ];
				}
			}
		}
	}

	/** The standard's penalty rules 1 (runs), 2 (2x2 blocks), 3 (finder-like patterns) and 4 (balance). */
	private function penalty(): int {
		$result = 0;
		$dark   = 0;
		for ( $pass = 0; $pass < 2; $pass++ ) {
			for ( $a = 0; $a < $this->size; $a++ ) {
				$line = array();
				for ( $b = 0; $b < $this->size; $b++ ) {
					$line[] = 0 === $pass ? $this->modules[ $a ][ $b ] : $this->modules[ $b ][ $a ];
				}
				$run = 1;
				for ( $b = 1; $b <= $this->size; $b++ ) {
					if ( $b < $this->size && $line[ $b ] === $line[ $b - 1 ] ) {
						$run++;
						continue;
					}
					if ( $run >= 5 ) {
						$result += 3 + ( $run - 5 );
					}
					$run = 1;
				}
				// 1:1:3:1:1 dark-light pattern with four light modules on one side.
				$text = implode( '', array_map( 'intval', $line ) );
				$result += 40 * ( substr_count( $text, '10111010000' ) + substr_count( $text, '00001011101' ) );
			}
		}
		for ( $y = 0; $y < $this->size; $y++ ) {
			for ( $x = 0; $x < $this->size; $x++ ) {
				if ( $this->modules[ $y ][ $x ] ) {
					$dark++;
				}
				if ( $x > 0 && $y > 0 ) {
					$color = $this->modules[ $y ][ $x ];
					if ( $color === $this->modules[ $y - 1 ][ $x ] && $color === $this->modules[ $y ][ $x - 1 ] && $color === $this->modules[ $y - 1 ][ $x - 1 ] ) {
						$result += 3;
					}
				}
			}
		}
		$total   = $this->size * $this->size;
		// Rule 4: 10 points for every 5% the dark share is off 50%, rounded as the standard does.
		$result += 10 * max( 0, intdiv( abs( $dark * 20 - $total * 10 ) + $total - 1, $total ) - 1 );
		return $result;
	}
}
