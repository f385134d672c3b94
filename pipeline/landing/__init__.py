"""Landing folders in, raw tables out: the input contract, demo and public-data writers, ingest."""
