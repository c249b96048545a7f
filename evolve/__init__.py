"""evolve: evolutionary discovery of systems and decoding policies."""
__version__ = "0.1.0"
