"""Realtime metric windows: the contract and reference, the Flink job (settings, decoder, statements, wiring)
and its local run."""
