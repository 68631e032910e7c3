"""The demo source: recorded real payloads fed through the same services as live data."""
