"""The package-size check (scripts/check_package_sizes.py) against Lambda's limits."""

from __future__ import annotations

from pathlib import Path

from scripts.check_package_sizes import UNPACKED_LIMIT, PackageSize, package_sizes


def test_over_the_unpacked_limit_names_the_function_and_the_excess() -> None:
    (problem,) = PackageSize("Fn", UNPACKED_LIMIT + 5_000_000, 1, ("SharedLayer",)).problems()
    assert problem.startswith("Fn: code and layers unpack to") and "5.0 MB over" in problem
    assert PackageSize("Fn", UNPACKED_LIMIT, 1, ("SharedLayer",)).problems() == []
    assert PackageSize("Fn", 1, 1, tuple(f"L{i}" for i in range(6))).problems() == ["Fn: 6 layers, at most 5"]


def test_a_function_counts_the_layers_it_gets_from_globals(tmp_path: Path) -> None:
    (tmp_path / "template.yaml").write_text(
        "Globals:\n  Function:\n    Layers: [!Ref SharedLayer]\n"
        "Resources:\n"
        "  SharedLayer: {Type: AWS::Serverless::LayerVersion}\n"
        "  Fn: {Type: AWS::Serverless::Function, Properties: {Handler: app.handler}}\n"
    )
    (tmp_path / "SharedLayer").mkdir()
    (tmp_path / "SharedLayer" / "big").write_bytes(b"x" * 1000)
    (tmp_path / "Fn").mkdir()
    (tmp_path / "Fn" / "app.py").write_bytes(b"y" * 10)
    (size,) = package_sizes(tmp_path)
    assert (size.function, size.unpacked, size.layers) == ("Fn", 1010, ("SharedLayer",))
