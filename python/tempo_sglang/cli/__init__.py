"""The tempo-sglang command line."""
