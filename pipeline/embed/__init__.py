"""Texts -> vectors: the export, the Spark job (or in-process), the load; the encoder both use."""
