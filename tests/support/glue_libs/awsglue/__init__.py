"""The parts of the AWS Glue library (``awsglue``) that ``glue/batch_job.py`` and ``glue/glue_runtime.py`` use,
over plain PySpark: ``getResolvedOptions``, ``GlueContext`` (its Spark session), ``Job`` (init, commit).

Only what lets the entry point run as Glue runs it; the Glue job bookmark (``create_dynamic_frame``) is not
here, so a run through this library takes ``--bookmark state-file`` or ``none``.
"""
