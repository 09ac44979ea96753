"""``getResolvedOptions``: the named job arguments, as Glue resolves them from ``sys.argv``."""

from __future__ import annotations

from collections.abc import Sequence


class GlueArgumentError(Exception):
    pass


def getResolvedOptions(args: Sequence[str], options: Sequence[str]) -> dict[str, str]:
    """Each of `options` from ``--name value`` or ``--name=value`` in `args` (the first element, the script, is
    skipped); a missing one raises, as in Glue. Other arguments (Glue's own, such as ``--extra-jars``) are
    ignored."""
    resolved: dict[str, str] = {}
    items = list(args[1:])
    for index, item in enumerate(items):
        if not item.startswith("--"):
            continue
        name, equals, value = item[2:].partition("=")
        if name in options:
            resolved[name] = value if equals else (items[index + 1] if index + 1 < len(items) else "")
    missing = [name for name in options if name not in resolved]
    if missing:
        raise GlueArgumentError(f"the following arguments are required: {', '.join('--' + m for m in missing)}")
    return resolved
