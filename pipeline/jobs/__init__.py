"""Jobs launched by spark-submit. They read and write Parquet only, never the warehouse file."""
