"""Where the pipeline runs: the embedded engine (pandas and DuckDB on one machine, the default) or Apache Spark."""
