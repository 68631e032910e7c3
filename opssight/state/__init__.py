"""Reflex state: thin doors to services (session check, call a service, hold view data)."""
