"""Local replay servers that answer like the real services, from recorded real payloads."""
