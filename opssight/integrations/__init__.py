"""Pure I/O adapters to external systems: no database, no reflex."""
