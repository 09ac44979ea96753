"""Start-up time of the local OpenSearch node (build timed and reported separately).

    python bench/bench_opensearch_startup.py [--port 9250] [--runs 1] [--rebuild]

Each run starts a node on a fresh, empty home (temporary directory), waits for green/yellow health, indexes
and searches one document, reports RSS, then stops the node and removes the home.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
import urllib.request
from pathlib import Path

from opsanalytics.local import opensearch_node

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _request(method: str, url: str, body: object | None = None) -> object:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with _OPENER.open(req, timeout=30) as response:
        return json.loads(response.read())


def _du_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=9250)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--rebuild", action="store_true", help="time a forced Maven rebuild (cached ~/.m2)")
    args = parser.parse_args()

    t0 = time.monotonic()
    was_built = opensearch_node.is_built()
    opensearch_node.build(force=args.rebuild)
    build_s = time.monotonic() - t0
    label = "cached, skipped" if was_built and not args.rebuild else "maven package"
    target_mb = _du_mb(opensearch_node.node_project() / "target")
    print(f"build: {build_s:.1f}s ({label}); classpath {target_mb:.0f} MB")

    for run in range(1, args.runs + 1):
        home = Path(tempfile.mkdtemp(prefix="opensearch-bench-"))
        try:
            t0 = time.monotonic()
            url = opensearch_node.start(port=args.port, home=home, wait_seconds=180)
            startup_s = time.monotonic() - t0
            t1 = time.monotonic()
            _request("PUT", f"{url}/bench/_doc/1?refresh=true", {"msg": "hello", "n": 1})
            hits = _request("POST", f"{url}/bench/_search", {"query": {"match": {"msg": "hello"}}})
            first_op_s = time.monotonic() - t1
            assert isinstance(hits, dict) and hits["hits"]["total"]["value"] == 1, hits
            node = opensearch_node.status(home)
            t2 = time.monotonic()
            opensearch_node.stop(home)
            stop_s = time.monotonic() - t2
            print(
                f"run {run}: startup {startup_s:.1f}s (spawn -> health {node.health}), "
                f"first index+search {first_op_s:.2f}s, RSS {node.rss_mb or 0:.0f} MB, "
                f"stop {stop_s:.1f}s, version {node.version}, home {_du_mb(home):.1f} MB"
            )
        finally:
            opensearch_node.stop(home)
            shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
