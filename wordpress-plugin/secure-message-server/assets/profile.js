/* Secure Message Server: the devices section of the profile screen, over the plugin's REST API. */
( function () {
	'use strict';
	const config = window.secureMessageProfile;
	const section = document.querySelector( '.secure-message-devices' );
	if ( ! config || ! section ) {
		return;
	}
	const errorBox = section.querySelector( '.secure-message-error' );

	function url( path ) {
		const target = new URL( config.root + path, window.location.href );
		if ( config.user ) {
			target.searchParams.set( 'user', String( config.user ) );
		}
		return target.toString();
	}

	async function call( method, path, body ) {
		const response = await fetch( url( path ), {
			method,
			credentials: 'same-origin',
			headers: { 'X-WP-Nonce': config.nonce, 'Content-Type': 'application/json' },
			body: body === undefined ? undefined : JSON.stringify( body ),
		} );
		const answer = await response.json().catch( () => ( {} ) );
		if ( ! response.ok ) {
			throw new Error( answer.message || String( response.status ) );
		}
		return answer;
	}

	function fail( error ) {
		errorBox.textContent = config.strings.failed + ' ' + error.message;
		errorBox.hidden = false;
	}

	// Inside the profile form: Enter in these fields must not submit the whole profile.
	section.addEventListener( 'keydown', ( event ) => {
		if ( event.key === 'Enter' && event.target.matches( 'input' ) ) {
			event.preventDefault();
		}
	} );

	section.querySelector( '.secure-message-add-button' ).addEventListener( 'click', async ( event ) => {
		const input = section.querySelector( '#secure-message-new-name' );
		const name = input.value.trim();
		if ( name === '' ) {
			return fail( new Error( config.strings.nameRequired ) );
		}
		event.target.disabled = true;
		try {
			const device = await call( 'POST', 'devices', { name, qr: true } );
			const reveal = section.querySelector( '.secure-message-reveal' );
			reveal.querySelector( '.secure-message-key' ).textContent = device.key;
			reveal.querySelector( '.secure-message-secret' ).textContent = device.secret;
			// The SVG is made by the plugin's own encoder from the key and secret: no markup of anyone's.
			reveal.querySelector( '.secure-message-qr-box' ).innerHTML = device.qr_svg;
			reveal.hidden = false;
			errorBox.hidden = true;
			input.value = '';
			const row = document.createElement( 'tr' );
			row.dataset.device = device.id;
			for ( const text of [ device.name, device.id, '', '' ] ) {
				const cell = document.createElement( 'td' );
				cell.textContent = text;
				row.appendChild( cell );
			}
			const empty = section.querySelector( '.secure-message-empty' );
			if ( empty ) {
				empty.remove();
			}
			section.querySelector( 'tbody' ).appendChild( row );
		} catch ( error ) {
			fail( error );
		} finally {
			event.target.disabled = false;
		}
	} );

	section.addEventListener( 'click', async ( event ) => {
		const row = event.target.closest( 'tr[data-device]' );
		if ( ! row ) {
			return;
		}
		const path = 'devices/' + encodeURIComponent( row.dataset.device );
		try {
			if ( event.target.matches( '.secure-message-rename' ) ) {
				await call( 'PATCH', path, { name: row.querySelector( '.secure-message-name' ).value } );
				window.location.reload();
			} else if ( event.target.matches( '.secure-message-remove' ) ) {
				if ( window.confirm( config.strings.confirmRemove ) ) {
					await call( 'DELETE', path );
					window.location.reload();
				}
			}
		} catch ( error ) {
			fail( error );
		}
	} );
} )();
