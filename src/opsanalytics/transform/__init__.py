"""The Firehose transformation: its record contract and the local delivery stream that drives it."""
