"""Page sections."""
