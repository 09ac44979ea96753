"""The stack as CloudFormation would create it, offline: the transformed template with its intrinsic functions
resolved for one set of parameters, placeholder names for what CloudFormation would name, and each role's
statements (inline, attached and the few AWS managed policies the template uses).

The physical names follow CloudFormation's patterns closely enough for IAM matching: a resource without a name
property gets ``<stack>-<LogicalId>-PLACEHOLDER``, or ``*`` with ``any_names`` (for matching calls the tests
make on resources of their own naming: the account, region, type, prefixes and paths still have to match); ARNs
use the placeholder account and region.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parents[2]
TRANSLATED: Final = ROOT / "build" / "cloudformation" / "template.json"
ACCOUNT: Final = "123456789012"
REGION: Final = "us-east-1"
STACK: Final = "opsanalytics"
PARTITION: Final = "aws"

# The AWS managed policies the template attaches, as far as the pipeline's calls need them.
MANAGED_POLICIES: Final[dict[str, list[dict[str, Any]]]] = {
    "AWSLambdaBasicExecutionRole": [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "*",
        }
    ],
    "AWSXrayWriteOnlyAccess": [
        {
            "Effect": "Allow",
            "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules"],
            "Resource": "*",
        }
    ],
}


def translated_template() -> dict[str, Any]:
    """build/cloudformation/template.json, made again with the SAM CLI's environment when stale or missing."""
    template = ROOT / "template.yaml"
    if not TRANSLATED.is_file() or TRANSLATED.stat().st_mtime < template.stat().st_mtime:
        python = ROOT / ".venv-sam" / "bin" / "python"
        if not python.is_file():
            raise RuntimeError("the SAM transform needs .venv-sam (make template-checks creates it)")
        subprocess.run(
            [str(python), str(ROOT / "scripts" / "translate_template.py"), "--output", str(TRANSLATED)],
            check=True,
            capture_output=True,
        )
    loaded: dict[str, Any] = json.loads(TRANSLATED.read_text())
    return loaded


def function_directories() -> dict[str, str]:
    """functions/<dir> → the logical id of its function (from template.yaml's CodeUri)."""
    from scripts.cloudformation_yaml import load_template

    template = load_template((ROOT / "template.yaml").read_text())
    found = {}
    for name, resource in template["Resources"].items():
        code = (resource.get("Properties") or {}).get("CodeUri")
        if resource["Type"] == "AWS::Serverless::Function" and isinstance(code, str):
            found[Path(code).name] = name
    return found


@dataclass
class Stack:
    """The translated template resolved for `parameters` (defaults for the rest)."""

    parameters: Mapping[str, str] = field(default_factory=dict)
    any_names: bool = False
    """Names CloudFormation would generate are ``*`` (the domain's excepted: its name is checked exactly)."""
    template: dict[str, Any] = field(default_factory=translated_template)

    @cached_property
    def values(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, parameter in self.template.get("Parameters", {}).items():
            raw = self.parameters.get(name, parameter.get("Default", ""))
            values[name] = [v for v in str(raw).split(",")] if parameter["Type"] == "CommaDelimitedList" else str(raw)
        values |= {
            "AWS::AccountId": ACCOUNT,
            "AWS::Region": REGION,
            "AWS::Partition": PARTITION,
            "AWS::StackName": STACK,
            "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK}/"
            + ("*" if self.any_names else "00000000-placeholder"),
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": None,
        }
        return values

    @cached_property
    def conditions(self) -> dict[str, bool]:
        conditions: dict[str, bool] = {}
        pending = dict(self.template.get("Conditions", {}))
        while pending:
            for name, expression in list(pending.items()):
                try:
                    conditions[name] = bool(self._condition(expression, conditions))
                except KeyError:
                    continue  # refers to a condition not evaluated yet
                del pending[name]
        return conditions

    def _condition(self, expression: Any, known: dict[str, bool]) -> Any:
        if isinstance(expression, dict) and len(expression) == 1:
            ((function, argument),) = expression.items()
            if function == "Condition":
                return known[argument]
            if function == "Fn::Equals":
                left, right = (self._condition(a, known) for a in argument)
                return str(left) == str(right)
            if function == "Fn::Not":
                return not self._condition(argument[0], known)
            if function == "Fn::And":
                return all(self._condition(a, known) for a in argument)
            if function == "Fn::Or":
                return any(self._condition(a, known) for a in argument)
            return self.resolve(expression)
        return expression

    def exists(self, logical_id: str) -> bool:
        condition = self.template["Resources"][logical_id].get("Condition")
        return condition is None or self.conditions[condition]

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return {name: r for name, r in self.template["Resources"].items() if self.exists(name)}

    # --- physical names ------------------------------------------------------------------------------------

    def physical_name(self, logical_id: str) -> str:
        resource = self.template["Resources"][logical_id]
        kind = resource["Type"]
        props = resource.get("Properties", {})
        named = {
            "AWS::IAM::Role": "RoleName",
            "AWS::Logs::LogGroup": "LogGroupName",
            "AWS::Glue::Database": None,
            "AWS::Lambda::Function": "FunctionName",
        }
        key = named.get(kind)
        if key and key in props:
            return str(self.resolve(props[key]))
        if kind == "AWS::Glue::Database":
            return str(self.resolve(props["DatabaseInput"]["Name"]))
        if self.any_names and kind != "AWS::OpenSearchService::Domain":
            return "*"
        if kind == "AWS::S3::Bucket":
            return f"{STACK}-{logical_id.lower()}-placeholder"
        if kind == "AWS::OpenSearchService::Domain":
            return f"{STACK[:10]}-{logical_id.lower()[:10]}-placeholder"[:28]
        return f"{STACK}-{logical_id}-PLACEHOLDER"

    def arn(self, logical_id: str) -> str:
        kind = self.template["Resources"][logical_id]["Type"]
        name = self.physical_name(logical_id)
        region, account = REGION, ACCOUNT
        arns = {
            "AWS::IAM::Role": f"arn:aws:iam::{account}:role/{name}",
            "AWS::S3::Bucket": f"arn:aws:s3:::{name}",
            "AWS::Kinesis::Stream": f"arn:aws:kinesis:{region}:{account}:stream/{name}",
            "AWS::SNS::Topic": f"arn:aws:sns:{region}:{account}:{name}",
            "AWS::SQS::Queue": f"arn:aws:sqs:{region}:{account}:{name}",
            "AWS::KMS::Key": f"arn:aws:kms:{region}:{account}:key/{name}",
            "AWS::Lambda::Function": f"arn:aws:lambda:{region}:{account}:function:{name}",
            "AWS::Logs::LogGroup": f"arn:aws:logs:{region}:{account}:log-group:{name}:*",
            "AWS::OpenSearchService::Domain": f"arn:aws:es:{region}:{account}:domain/{name}",
            "AWS::KinesisAnalyticsV2::Application": f"arn:aws:kinesisanalytics:{region}:{account}:application/{name}",
            "AWS::Events::Rule": f"arn:aws:events:{region}:{account}:rule/{name}",
            "AWS::Glue::Job": f"arn:aws:glue:{region}:{account}:job/{name}",
            "AWS::Cognito::UserPool": f"arn:aws:cognito-idp:{region}:{account}:userpool/{name}",
        }
        return arns.get(kind, f"arn:aws:placeholder:{region}:{account}:{logical_id}")

    def ref(self, name: str) -> Any:
        if name in self.values:
            return self.values[name]
        kind = self.template["Resources"][name]["Type"]
        if kind in ("AWS::SNS::Topic", "AWS::Events::Rule"):
            return self.arn(name)
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{self.physical_name(name)}"
        return self.physical_name(name)

    def get_att(self, name: str, attribute: str) -> Any:
        if attribute == "Arn":
            return self.arn(name)
        if attribute == "DomainEndpoint":
            return f"search-{self.physical_name(name)}-placeholder.{REGION}.es.amazonaws.com"
        if attribute.endswith("Uri"):
            bucket = self.physical_name("ArchiveBucket")
            return f"s3://{bucket}/artifacts/{attribute[:-3].lower()}/placeholder"
        if attribute.endswith("Key"):
            return f"artifacts/{attribute[:-3].lower()}/placeholder"
        return f"{name}.{attribute}"

    # --- intrinsic functions --------------------------------------------------------------------------------

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            resolved = [self.resolve(v) for v in value]
            return [v for v in resolved if v is not None]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((function, argument),) = value.items()
            if function == "Ref":
                return self.ref(argument)
            if function == "Fn::GetAtt":
                name, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
                return self.get_att(name, attribute)
            if function == "Fn::Sub":
                return self._sub(argument)
            if function == "Fn::If":
                condition, yes, no = argument
                return self.resolve(yes if self.conditions[condition] else no)
            if function == "Fn::Join":
                separator, items = argument
                return separator.join(str(i) for i in self.resolve(items))
            if function == "Fn::Split":
                separator, text = argument
                return str(self.resolve(text)).split(separator)
            if function == "Fn::Select":
                index, items = argument
                return self.resolve(items)[int(index)]
        return {key: self.resolve(item) for key, item in value.items()}

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        for name, expression in variables.items():
            text = text.replace(f"${{{name}}}", str(self.resolve(expression)))
        while "${" in text:
            start = text.index("${")
            end = text.index("}", start)
            name = text[start + 2 : end]
            if "." in name and not name.startswith("AWS::"):
                resource, attribute = name.split(".", 1)
                replacement = self.get_att(resource, attribute)
            else:
                replacement = self.ref(name)
            text = text[:start] + str(replacement) + text[end + 1 :]
        return text

    # --- principals -----------------------------------------------------------------------------------------

    def role_of(self, logical_id: str) -> str:
        """The role logical id of a function or a Glue job."""
        props = self.template["Resources"][logical_id]["Properties"]
        role = props["Role"]
        return str(role["Fn::GetAtt"][0] if isinstance(role, dict) and "Fn::GetAtt" in role else role)

    def statements_of(self, role: str) -> list[dict[str, Any]]:
        """Every statement in force for `role`: inline, attached AWS::IAM::Policy, managed ones we know."""
        props = self.resolve(self.template["Resources"][role]["Properties"])
        statements: list[dict[str, Any]] = []
        for policy in props.get("Policies", []):
            statements += _as_list(policy["PolicyDocument"]["Statement"])
        for _name, resource in self.resources.items():
            if resource["Type"] == "AWS::IAM::Policy":
                attached = [r.get("Ref") for r in resource["Properties"].get("Roles", [])]
                if role in attached:
                    statements += _as_list(self.resolve(resource["Properties"]["PolicyDocument"])["Statement"])
        for arn in props.get("ManagedPolicyArns", []):
            short = str(arn).rsplit("/", 1)[-1]
            if short not in MANAGED_POLICIES:
                print(f"iam: no statements known for the managed policy {arn}", file=sys.stderr)
            statements += MANAGED_POLICIES.get(short, [])
        return statements


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def environment() -> dict[str, str]:
    return {"AWS_REGION": os.environ.get("AWS_REGION", REGION)}
