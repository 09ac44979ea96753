"""Each function built by `sam build`, with its layers, against Lambda's package limits.

    python -m scripts.check_package_sizes [--build-dir .aws-sam/build]

Lambda refuses a function whose code and layers unpack to more than 250 MB (262,144,000 bytes), and more than
five layers; `sam deploy` uploads packages through S3, where the 50 MB limit of a direct upload does not apply,
but a zipped package over it is printed as a warning (it slows every deploy). Exit status 1 when a limit is
exceeded, naming the function and by how much.
"""

from __future__ import annotations

import argparse
import io
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from scripts.cloudformation_yaml import load_template

UNPACKED_LIMIT = 262_144_000
DIRECT_UPLOAD_ZIPPED = 50 * 2**20
MAX_LAYERS = 5


@dataclass(frozen=True, slots=True)
class PackageSize:
    function: str
    unpacked: int
    zipped: int
    layers: tuple[str, ...]

    def problems(self) -> list[str]:
        found = []
        if self.unpacked > UNPACKED_LIMIT:
            over = (self.unpacked - UNPACKED_LIMIT) / 1e6
            found.append(f"{self.function}: code and layers unpack to {self.unpacked / 1e6:.1f} MB, {over:.1f} MB over")
        if len(self.layers) > MAX_LAYERS:
            found.append(f"{self.function}: {len(self.layers)} layers, at most {MAX_LAYERS}")
        return found


def tree_size(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())


def zipped_size(directory: Path) -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(directory))
    return len(buffer.getvalue())


def package_sizes(build_dir: Path) -> list[PackageSize]:
    template = load_template((build_dir / "template.yaml").read_text())
    global_layers = ((template.get("Globals") or {}).get("Function") or {}).get("Layers") or []
    layer_dirs = {name: build_dir / name for name, r in template["Resources"].items() if "LayerVersion" in r["Type"]}
    sizes = []
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        code = build_dir / name
        layers = tuple(layer_dirs) if global_layers or resource["Properties"].get("Layers") else ()
        unpacked = tree_size(code) + sum(tree_size(layer_dirs[layer]) for layer in layers)
        sizes.append(PackageSize(name, unpacked, zipped_size(code), layers))
    return sizes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir", type=Path, default=Path(".aws-sam/build"))
    args = parser.parse_args()
    if not (args.build_dir / "template.yaml").is_file():
        print(f"no {args.build_dir}/template.yaml: run `sam build` first", file=sys.stderr)
        return 2
    problems = []
    for size in package_sizes(args.build_dir):
        note = (
            " (over the 50 MB of a direct upload: deploys go through S3)" if size.zipped > DIRECT_UPLOAD_ZIPPED else ""
        )
        print(
            f"{size.function:<28} {size.unpacked / 1e6:7.1f} MB with layers, {size.zipped / 1e6:6.1f} MB zipped{note}"
        )
        problems += size.problems()
    for problem in problems:
        print(f"package too large: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
