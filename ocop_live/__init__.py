"""ocop-live: real-time board for livestream OCOP market fairs."""
