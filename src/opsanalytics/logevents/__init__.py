"""What a log line becomes: CloudWatch Logs payload decoding, the LogEvent contract, parsing."""
