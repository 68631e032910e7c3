"""Domain logic: combine integrations and the database, publish events. Never imports reflex."""
