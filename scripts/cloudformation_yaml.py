"""template.yaml as data: a SafeLoader that keeps CloudFormation's short-form tags as their long forms.

``!Ref X`` → ``{"Ref": "X"}``, ``!Condition X`` → ``{"Condition": "X"}``, ``!GetAtt A.B`` → ``{"Fn::GetAtt":
["A", "B"]}``, any other ``!Name v`` → ``{"Fn::Name": v}``. The one reader of the template for the checks and the
tests (``python -m scripts.check_upgrade``, ``python -m scripts.check_package_sizes``, ``tests/``).
"""

from __future__ import annotations

from typing import Any

import yaml


class TemplateLoader(yaml.SafeLoader):
    """SafeLoader with CloudFormation's short-form intrinsic functions."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        raise yaml.constructor.ConstructorError(None, None, f"unexpected node for !{suffix}", node.start_mark)
    return {suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}": value}


TemplateLoader.add_multi_constructor("!", _intrinsic)


def load_template(text: str) -> dict[str, Any]:
    """The template in `text`; ValueError when it is not a mapping."""
    document = yaml.load(text, Loader=TemplateLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(document, dict):
        raise ValueError("not a CloudFormation template (its YAML is not a mapping)")
    return document
