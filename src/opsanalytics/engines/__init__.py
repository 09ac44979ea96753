"""Local engines (OpenSearch, ...) that the project starts itself for integration tests and local runs."""
