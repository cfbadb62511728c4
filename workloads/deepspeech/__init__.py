"""The `deepspeech` family (speech recognition with CTC on synthesized speech): being built."""
