"""The JVM of local Spark (PySpark's spark-submit in local mode): options for a short-lived JVM on few cores,
and a class-data-sharing archive of the classes a batch run loads.

Without what follows, a local batch run over 1M events took 17 to 25 s on 2 cores, most of it a cold JVM
warming up: ``-XX:+CITime`` counted 18 CPU-s of JIT compilation in a 34 CPU-s run (15 of them in C2), and
loading Spark's classes from their jars is most of start-up. Hence, for local runs only (Glue manages its JVMs):

- `TUNING`: C2 compiles only methods that stay hot (tier-4 thresholds 2 to 10 times HotSpot's defaults), the rest
  runs as C1 code; ParallelGC, whose collections pause instead of marking beside the job on 2 cores.
- an AppCDS archive (Java 17's dynamic archive, ``-XX:ArchiveClassesAtExit``): the classes a small training
  run of the batch job loaded, mapped at start instead of loaded and verified again. An archive belongs to
  one JDK and one PySpark install; its file name carries a key of both, and a JVM that cannot map it
  warns and runs without it.

CLI: ``python -m opsanalytics.engines.spark_jvm {build-archive,status,clear}``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

from ..paths import project_root

TUNING: Final = (
    "-XX:+UseParallelGC",
    "-XX:Tier4InvocationThreshold=20000",
    "-XX:Tier4MinInvocationThreshold=6000",
    "-XX:Tier4CompileThreshold=30000",
    "-XX:Tier4BackEdgeThreshold=200000",
)
OPTIONS_VARIABLE: Final = "OPSANALYTICS_SPARK_JAVA_OPTIONS"
"""when set (even empty), the local JVM's options instead of `TUNING` and the archive"""
ARCHIVE_DIR: Final = Path(".local/spark-cds")
CLASSPATH_VARIABLES: Final = (
    "SPARK_HOME",
    "SPARK_CONF_DIR",
    "HADOOP_CONF_DIR",
    "YARN_CONF_DIR",
    "SPARK_DIST_CLASSPATH",
    "PYSPARK_SUBMIT_ARGS",
)
TRAINING_EVENTS: Final = 20_000
TRAINING_TIMEOUT_SECONDS: Final = 300


def java_binary() -> Path | None:
    """The java spark-submit runs: ``$JAVA_HOME/bin/java``, else the first on PATH (as ``spark-class``)."""
    home = os.environ.get("JAVA_HOME")
    found = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not found or not Path(found).is_file():
        return None
    return Path(found).resolve()


def archive_key() -> str | None:
    """A key of the JDK (binary, its ``release`` file) and the PySpark install (version, jar names)."""
    java = java_binary()
    if java is None:
        return None
    import pyspark

    stat = java.stat()
    release = java.parent.parent / "release"
    jars = Path(pyspark.__file__).parent / "jars"
    material = "\n".join(
        [
            str(java),
            f"{stat.st_size}:{stat.st_mtime_ns}",
            release.read_text(errors="replace") if release.is_file() else "",
            pyspark.__version__,
            str(jars),
            *sorted(path.name for path in jars.glob("*.jar")),
            # what else spark-submit puts on the class path: the archive is refused when that differs
            *(f"{name}={os.environ.get(name, '')}" for name in CLASSPATH_VARIABLES),
        ]
    )
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def archive_dir() -> Path:
    return project_root() / ARCHIVE_DIR


def archive_path() -> Path | None:
    """Where this JDK and PySpark's archive is (whether or not it exists); None without a java."""
    key = archive_key()
    return None if key is None else archive_dir() / f"spark-{key}.jsa"


def java_options() -> list[str]:
    """The local JVM's options: `TUNING`, and the archive when this JDK and PySpark have one; or the
    words of ``$OPSANALYTICS_SPARK_JAVA_OPTIONS`` when it is set."""
    if OPTIONS_VARIABLE in os.environ:
        return shlex.split(os.environ[OPTIONS_VARIABLE])
    options = list(TUNING)
    try:
        archive = archive_path()
    except FileNotFoundError:  # not a checkout: no place for the archive
        archive = None
    if archive is not None and archive.is_file():
        options.append(f"-XX:SharedArchiveFile={archive}")
    return options


def build_archive(*, force: bool = False) -> Path | None:
    """Build the archive unless present: a training run of the batch job over a small generated bucket in
    a child process, whose JVM writes the archive as it exits. Written under a temporary name and moved into
    place, so a concurrent run never maps half a file. Returns None (and says why) when it cannot be built:
    runs then go without it."""
    target = archive_path()
    if target is None:
        print("spark-jvm: no java found (JAVA_HOME or PATH): no archive", file=sys.stderr)
        return None
    if target.is_file() and not force:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    print("spark-jvm: building the class-data-sharing archive of the local Spark JVM (once, about 30 s)", flush=True)
    started = time.perf_counter()
    partial = target.parent / f".{target.name}.{os.getpid()}.partial"
    with tempfile.TemporaryDirectory(prefix="opsanalytics-spark-cds-") as scratch:
        command = [sys.executable, "-m", "opsanalytics.engines.spark_jvm", "_train"]
        command += ["--bucket", str(Path(scratch) / "bucket"), "--output", str(partial)]
        # a session of its own: on a timeout the child and its JVM are stopped together
        child = subprocess.Popen(  # noqa: S603 - this interpreter and module, paths of our own
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )
        try:
            output, _ = child.communicate(timeout=TRAINING_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            _kill_group(child.pid)
            output, _ = child.communicate()
            output += f"\n(stopped after {TRAINING_TIMEOUT_SECONDS} s)"
        except BaseException:  # e.g. Ctrl-C: the child runs in a session of its own, stop it too
            _kill_group(child.pid)
            child.wait()
            partial.unlink(missing_ok=True)
            raise
        if child.returncode != 0 or not partial.is_file() or partial.stat().st_size == 0:
            partial.unlink(missing_ok=True)
            tail = "\n".join(output.strip().splitlines()[-15:])
            print(f"spark-jvm: the archive could not be built (runs go without it):\n{tail}", file=sys.stderr)
            return None
        os.replace(partial, target)
    for stale in _archive_files(target.parent, partial_older_than=time.time() - 2 * TRAINING_TIMEOUT_SECONDS):
        if stale != target:
            stale.unlink(missing_ok=True)
    size = target.stat().st_size / 2**20
    print(f"spark-jvm: {target} ({size:.0f} MiB) in {time.perf_counter() - started:.1f} s", flush=True)
    return target


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def _modified_before(path: Path, moment: float | None) -> bool:
    try:
        return moment is None or path.stat().st_mtime < moment
    except FileNotFoundError:  # moved into place or removed by a concurrent build
        return False


def _archive_files(folder: Path, partial_older_than: float | None = None) -> list[Path]:
    """Archives of any JDK and PySpark, and partial ones a stopped build left (modified before
    ``partial_older_than``, epoch seconds, when given: a concurrent build may be writing a newer one)."""
    partials = [path for path in folder.glob(".spark-*.partial") if _modified_before(path, partial_older_than)]
    return [*folder.glob("spark-*.jsa"), *partials]


def _train(bucket: Path, output: Path) -> int:
    """The training run (in its own process): the batch job over a small bucket, then wait for the JVM
    to exit, which is when it writes the archive."""
    from ..batch.settings import BatchSettings
    from ..local.batch import local_spark_session, run_local_batch
    from ..samples import write_event_archive

    write_event_archive(bucket, events=TRAINING_EVENTS)
    session = local_spark_session(
        app_name="opsanalytics-spark-cds", java_options=[*TUNING, f"-XX:ArchiveClassesAtExit={output}"]
    )
    gateway: Any = session.sparkContext._gateway  # py4j gateway; .proc is spark-submit's JVM process
    process: subprocess.Popen[bytes] = gateway.proc
    run_local_batch(BatchSettings(bucket=str(bucket), full=True, sink="none"), spark=session)
    session.stop()
    gateway.shutdown()
    # PySpark's gateway JVM exits when its stdin closes; on exit it writes the archive
    assert process.stdin is not None
    process.stdin.close()
    return process.wait(timeout=TRAINING_TIMEOUT_SECONDS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m opsanalytics.engines.spark_jvm",
        description="The local Spark JVM's class-data-sharing archive (faster start-up and first queries).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build-archive", help="build the archive for this JDK and PySpark unless present")
    build.add_argument("--force", action="store_true", help="build again even when present")
    commands.add_parser("status", help="the archive this JDK and PySpark use, and the JVM options")
    commands.add_parser("clear", help="remove every archive")
    train = commands.add_parser("_train")  # internal: the child process of build-archive
    train.add_argument("--bucket", type=Path, required=True)
    train.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(argv)

    if args.command == "build-archive":
        return 0 if build_archive(force=args.force) is not None else 1
    if args.command == "status":
        archive = archive_path()
        state = "missing" if archive is None or not archive.is_file() else "present"
        print(f"archive      {archive} ({state})")
        print(f"JVM options  {' '.join(java_options())}")
        return 0
    if args.command == "clear":
        for path in _archive_files(archive_dir()):
            path.unlink(missing_ok=True)
            print(f"removed {path}")
        return 0
    return _train(args.bucket, args.output)


if __name__ == "__main__":
    raise SystemExit(main())
