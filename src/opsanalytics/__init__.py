"""Shared core of opsanalytics: CloudWatch Logs decoding, log parsing, metric and alert logic.

Pure Python: importable without boto3 or a network. The Lambda functions, the PyFlink job and the Glue job
are thin shells around it.
"""

__version__ = "0.1.0"
