"""Pydantic models of external payloads and of inputs, validated at every boundary."""
