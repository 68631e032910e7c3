"""Ansible automation: ingest of the callback's batches, ingest tokens, and the page's reads."""
