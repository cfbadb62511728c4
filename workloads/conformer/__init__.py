"""The `conformer` family (speech recognition with CTC on synthesized speech): being built."""
