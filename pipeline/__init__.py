"""recsys-nightly: a nightly batch pipeline from raw shop data to top-N recommendations."""

__version__ = "0.4.8"
