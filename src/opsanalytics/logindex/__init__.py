"""Log indices: the parsed events of ``events/`` indexed into OpenSearch, daily by event day, ``_id`` = event_id.

An indexer function runs for every new ``events/`` object (S3 → EventBridge → SQS → Lambda): it reads the
object's lines, keeps those at or above the chosen level (`documents.selects`), indexes them through the bulk
writer into ``<prefix>YYYY.MM.DD`` and writes what OpenSearch still rejects, with the reason, to
``errors/log-index/`` (`indexer`). A replay of the same objects overwrites the same documents. Locally the
same handler runs over the bucket directory (`local`).
"""
