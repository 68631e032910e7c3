"""The page shell."""
