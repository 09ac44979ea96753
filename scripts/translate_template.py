"""template.yaml as CloudFormation sees it: the SAM transform applied, offline, into plain CloudFormation JSON.

    .venv-sam/bin/python scripts/translate_template.py [--output build/cloudformation/template.json]

Runs in the SAM CLI's environment (.venv-sam), whose samtranslator is the transform `sam deploy` sends the
template to. Local code locations are replaced by the s3:// locations `sam package` would write, and the region
is a placeholder: what comes out is what CloudFormation would be asked to create, for cfn-lint and for the
template tests (roles, policies, event source mappings the transform generates).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "build" / "cloudformation" / "template.json"
PACKAGED_PROPERTIES = ("CodeUri", "ContentUri")


class NoManagedPolicies:
    """samtranslator asks IAM for managed policy names it cannot resolve; the template names them by ARN."""

    def load(self) -> dict[str, str]:
        return {}


def packaged(template: dict[str, Any]) -> dict[str, Any]:
    """The template with local code locations where `sam package` puts s3:// ones."""
    for name, resource in template.get("Resources", {}).items():
        props = resource.get("Properties", {})
        for key in PACKAGED_PROPERTIES:
            if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
                props[key] = f"s3://sam-packaging-bucket/{name}.zip"
    return template


def translate(template_text: str) -> dict[str, Any]:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    result: dict[str, Any] = transform(packaged(yaml_parse(template_text)), {}, NoManagedPolicies())
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--template", type=Path, default=ROOT / "template.yaml")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    translated = translate(args.template.read_text())
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(translated, indent=1, sort_keys=True, default=str) + "\n")
    print(f"{args.output}: {len(translated['Resources'])} resources after the SAM transform")
    return 0


if __name__ == "__main__":
    sys.exit(main())
