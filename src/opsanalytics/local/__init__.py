"""The local pipeline: orchestration of the stages on sample or replayed logs, the local Lambda runtime and the
local OpenSearch node."""
