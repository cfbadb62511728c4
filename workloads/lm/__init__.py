"""`lm`: a character-level decoder-only Transformer on Shakespeare."""
