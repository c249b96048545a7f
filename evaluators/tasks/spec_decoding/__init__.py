"""Speculative decoding with a draft and a target language model; lossless by check."""
