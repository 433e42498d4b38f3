"""sruq: single-image super-resolution with uncertainty you can see."""

__version__ = "0.1.0"
