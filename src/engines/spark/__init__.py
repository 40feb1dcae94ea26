"""The Spark engine (``engine=spark``): pyspark is imported only here, and only when it is chosen."""
from engines.spark.engine import SparkEngine

__all__ = ["SparkEngine"]
