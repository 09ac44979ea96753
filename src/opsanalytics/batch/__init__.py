"""Batch analytics over the S3 archive: the PySpark job Glue 5.0 runs, and the pure Python it calls.

`signatures` and `slo` are pure Python (no Spark); `transforms` holds DataFrame-in, DataFrame-out steps;
`job.run` wires them between an input inventory, a bookmark and the sinks; `local` runs it on Spark local
mode. Importing this package does not import Spark.
"""
