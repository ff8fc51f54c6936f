"""The living market: constant-product pools shared by every process through Redis."""
