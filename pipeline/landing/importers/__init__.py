"""Importers: public datasets -> the landing contract, so the whole pipeline can run on them."""
