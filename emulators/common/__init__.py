"""Parts both emulators share: clock, fault injection, call counters, control routes, TLS, server."""
