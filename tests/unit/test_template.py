"""The wiring of template.yaml: failure handling, encryption, least privilege and the pinned runtimes.

The template is read with a YAML loader that keeps CloudFormation's short-form tags (``!Ref X`` becomes
``{"Ref": "X"}``, ``!GetAtt A.B`` becomes ``{"Fn::GetAtt": ["A", "B"]}``), and, for the checks that need line
numbers (a wildcard resource must carry a comment on its line), composed into YAML nodes.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from scripts.cloudformation_yaml import TemplateLoader, load_template

from opsanalytics.deploy.subscriptions import SETTINGS_FROM_ENVIRONMENT, SETTINGS_FROM_PARAMETERS

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"
TEMPLATE_TEXT = TEMPLATE_PATH.read_text()


TEMPLATE: dict[str, Any] = load_template(TEMPLATE_TEXT)
RESOURCES: dict[str, dict[str, Any]] = TEMPLATE["Resources"]
PARAMETERS: dict[str, dict[str, Any]] = TEMPLATE["Parameters"]


def resources_of(*types: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in RESOURCES.items() if r["Type"] in types}


def properties(logical_id: str) -> dict[str, Any]:
    props: dict[str, Any] = RESOURCES[logical_id].get("Properties", {})
    return props


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policy_statements(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    """Every IAM-style statement (a mapping with Effect and Action or NotAction) anywhere in `value`."""
    if isinstance(value, dict):
        if "Effect" in value and ("Action" in value or "NotAction" in value):
            yield path, value
        for key, item in value.items():
            yield from policy_statements(item, (*path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from policy_statements(item, (*path, str(index)))


def is_key_policy(path: tuple[str, ...]) -> bool:
    return len(path) > 3 and path[0] == "Resources" and path[2] == "Properties" and path[3] == "KeyPolicy"


def refers_to(value: Any, logical_id: str) -> bool:
    """Whether `value` is a Ref or GetAtt of `logical_id` (possibly under Fn::If)."""
    if isinstance(value, dict):
        if value.get("Ref") == logical_id:
            return True
        get_att = value.get("Fn::GetAtt")
        if isinstance(get_att, list) and get_att and get_att[0] == logical_id:
            return True
        return any(refers_to(item, logical_id) for item in value.values())
    if isinstance(value, list):
        return any(refers_to(item, logical_id) for item in value)
    return False


# --- failure handling ------------------------------------------------------------------------------------------


def kinesis_event_sources() -> list[tuple[str, dict[str, Any]]]:
    sources = []
    for name, resource in resources_of("AWS::Serverless::Function").items():
        for event_name, event in (resource["Properties"].get("Events") or {}).items():
            if event["Type"] == "Kinesis":
                sources.append((f"{name}.{event_name}", event["Properties"]))
    streams = resources_of("AWS::Kinesis::Stream")
    for name, resource in resources_of("AWS::Lambda::EventSourceMapping").items():
        source = resource["Properties"].get("EventSourceArn")
        if isinstance(source, dict) and source.get("Fn::GetAtt", [None])[0] in streams:
            sources.append((name, resource["Properties"]))
    return sources


def test_there_is_a_kinesis_event_source() -> None:
    assert kinesis_event_sources()


@pytest.mark.parametrize(("name", "source"), kinesis_event_sources(), ids=[n for n, _ in kinesis_event_sources()])
def test_kinesis_event_sources_cannot_block_a_shard(name: str, source: dict[str, Any]) -> None:
    assert "ReportBatchItemFailures" in source.get("FunctionResponseTypes", []), name
    assert source.get("BisectBatchOnFunctionError") is True, name
    on_failure = (source.get("DestinationConfig") or {}).get("OnFailure") or {}
    assert on_failure.get("Destination"), f"{name}: no on-failure destination"
    assert isinstance(source.get("MaximumRetryAttempts"), int), f"{name}: unbounded retries"
    assert isinstance(source.get("MaximumRecordAgeInSeconds"), int), f"{name}: unbounded record age"


# --- encryption at rest ----------------------------------------------------------------------------------------


def test_buckets_are_encrypted() -> None:
    buckets = resources_of("AWS::S3::Bucket")
    assert buckets
    for name, bucket in buckets.items():
        rules = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rules[0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("aws:kms", "AES256"), name


def test_streams_are_encrypted_with_kms() -> None:
    streams = resources_of("AWS::Kinesis::Stream")
    assert streams
    for name, stream in streams.items():
        assert stream["Properties"]["StreamEncryption"]["EncryptionType"] == "KMS", name


def test_topics_and_queues_are_encrypted() -> None:
    for name, resource in resources_of("AWS::SNS::Topic", "AWS::SQS::Queue").items():
        props = resource["Properties"]
        assert props.get("KmsMasterKeyId") or props.get("SqsManagedSseEnabled"), f"{name} is not encrypted"


def test_firehose_writes_with_the_data_key() -> None:
    for name, stream in resources_of("AWS::KinesisFirehose::DeliveryStream").items():
        s3 = stream["Properties"]["ExtendedS3DestinationConfiguration"]
        assert refers_to(s3["EncryptionConfiguration"]["KMSEncryptionConfig"], "DataKey"), name
        assert refers_to(s3["S3BackupConfiguration"]["EncryptionConfiguration"]["KMSEncryptionConfig"], "DataKey")


# --- least privilege -------------------------------------------------------------------------------------------


STATEMENTS = list(policy_statements(TEMPLATE))


def test_policy_statements_are_found() -> None:
    assert len(STATEMENTS) > 10


@pytest.mark.parametrize(("path", "statement"), STATEMENTS, ids=["/".join(p) for p, _ in STATEMENTS])
def test_no_statement_grants_every_action(path: tuple[str, ...], statement: dict[str, Any]) -> None:
    for key in ("Action", "NotAction"):
        assert "*" not in as_list(statement.get(key, [])), f"{'/'.join(path)}: {key} '*'"


def _wildcard_resource_nodes(node: yaml.Node, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], int]]:
    """(path, 0-based line) of every Resource whose value is or contains the scalar '*'."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in ("Resource", "NotResource"):
                items = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                for item in items:
                    if isinstance(item, yaml.ScalarNode) and item.value == "*":
                        yield (*path, key), item.start_mark.line
            yield from _wildcard_resource_nodes(value_node, (*path, key))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _wildcard_resource_nodes(item, (*path, str(index)))


TEMPLATE_NODE = yaml.compose(TEMPLATE_TEXT, Loader=TemplateLoader)
assert TEMPLATE_NODE is not None
WILDCARD_RESOURCES = list(_wildcard_resource_nodes(TEMPLATE_NODE))


@pytest.mark.parametrize(("path", "line"), WILDCARD_RESOURCES, ids=["/".join(p) for p, _ in WILDCARD_RESOURCES])
def test_a_wildcard_resource_says_why(path: tuple[str, ...], line: int) -> None:
    text = TEMPLATE_TEXT.splitlines()[line]
    assert is_key_policy(path) or "#" in text, f"line {line + 1}: Resource '*' without a comment: {text.strip()}"
    if "#" in text:
        assert len(text.split("#", 1)[1].strip()) > 10, f"line {line + 1}: the comment does not say why"


def _cloudwatch_logs_roles() -> dict[str, dict[str, Any]]:
    return {
        name: role
        for name, role in resources_of("AWS::IAM::Role").items()
        if any(
            "logs.amazonaws.com" in json.dumps(s.get("Principal"))
            for s in role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        )
    }


def test_the_subscription_role_is_assumed_only_by_cloudwatch_logs_of_this_account_and_region() -> None:
    """The trust the CloudWatch Logs guide gives for subscriptions to Kinesis: aws:SourceArn with StringLike
    on arn:aws:logs:<region>:<account>:* (what CloudWatch Logs presents is not documented as a log-group ARN)."""
    roles = _cloudwatch_logs_roles()
    assert roles
    for name, role in roles.items():
        for statement in role["Properties"]["AssumeRolePolicyDocument"]["Statement"]:
            assert statement["Condition"] == {
                "StringLike": {
                    "aws:SourceArn": {"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:*"}
                }
            }, name


def test_the_glue_role_has_the_trust_policy_of_the_glue_guide() -> None:
    (statement,) = properties("BatchJobRole")["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "glue.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    assert "Condition" not in statement


def test_a_role_is_passed_only_where_it_is_needed_and_only_to_its_service() -> None:
    """The subscriptions function passes the CloudWatch Logs role to CloudWatch Logs; the Dashboards login function
    the viewer role to Cognito identity pools. Nothing else passes a role."""
    roles = _cloudwatch_logs_roles()
    allowed = {
        "LogSubscriptionsFunction": (roles, "logs.amazonaws.com"),
        "DashboardsLoginFunction": (["DashboardsViewerRole"], "cognito-identity.amazonaws.com"),
    }
    passers = []
    for path, statement in STATEMENTS:
        if "iam:PassRole" not in as_list(statement["Action"]):
            continue
        assert statement["Effect"] == "Allow"
        passed_roles, service = allowed[path[1]]
        assert any(refers_to(statement["Resource"], r) for r in passed_roles), f"{'/'.join(path)}: PassRole of what?"
        passed_to = statement["Condition"]["StringEquals"]["iam:PassedToService"]
        assert passed_to == service, "/".join(path)
        passers.append(path[1])
    assert sorted(passers) == sorted(allowed)
    (subscriptions,) = resources_of("Custom::LogSubscriptions").values()
    props = subscriptions["Properties"]
    assert refers_to(props["ServiceToken"], "LogSubscriptionsFunction")
    assert any(refers_to(props["RoleArn"], role) for role in roles)
    assert refers_to(props["DestinationArn"], "LogsStream")
    assert props["LogGroupNames"] == {"Ref": "LogGroupNames"}, "every listed log group, not a fixed number of slots"
    assert not resources_of("AWS::Logs::SubscriptionFilter"), "subscriptions are the custom resource's"


def _guard_patterns() -> list[str]:
    (subscriptions,) = resources_of("Custom::LogSubscriptions").values()
    return [p["Fn::Sub"] if isinstance(p, dict) else p for p in subscriptions["Properties"]["PipelineLogGroups"]]


def _log_group_name(resource: dict[str, Any]) -> str:
    name = resource["Properties"]["LogGroupName"]
    return str(name["Fn::Sub"] if isinstance(name, dict) else name)


def test_the_recursion_guard_covers_every_log_group_of_the_stack() -> None:
    """The pipeline's own log groups are never subscribed: each log group the template creates falls under one of
    the custom resource's PipelineLogGroups, and every function logs to one of those log groups."""
    patterns = _guard_patterns()
    assert "/aws-glue/*" in patterns, "the Glue job's log groups"
    log_groups = resources_of("AWS::Logs::LogGroup")
    for name, log_group in log_groups.items():
        group = _log_group_name(log_group)
        assert any(group.startswith(p[:-1]) if p.endswith("*") else group == p for p in patterns), (
            f"{name} ({group}) is not in PipelineLogGroups"
        )
    for name, function in resources_of("AWS::Serverless::Function").items():
        target = function["Properties"]["LoggingConfig"]["LogGroup"]
        assert target.get("Ref") in log_groups, f"{name} logs to a log group the guard does not know"


def test_the_subscriptions_function_may_not_subscribe_the_pipeline_log_groups() -> None:
    statements = [s for p, s in STATEMENTS if p[1] == "LogSubscriptionsFunction"]
    (deny,) = [s for s in statements if s["Effect"] == "Deny"]
    assert as_list(deny["Action"]) == ["logs:PutSubscriptionFilter"]
    prefix = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
    assert [r["Fn::Sub"] for r in deny["Resource"]] == [prefix + p for p in _guard_patterns()]
    allowed = [s for s in statements if s["Effect"] == "Allow" and "logs:PutSubscriptionFilter" in as_list(s["Action"])]
    assert [s["Resource"] for s in allowed] == [{"Fn::Sub": prefix + "*"}], "log groups of this account and region"


def test_the_scheduled_pass_has_the_custom_resources_settings() -> None:
    """The scheduled pass of the subscriptions function reads what the custom resource gets as properties: the
    same stack parameters, and environment variables set to the same expressions (lists joined with commas)."""
    (subscriptions,) = resources_of("Custom::LogSubscriptions").values()
    props = subscriptions["Properties"]
    function = resources_of("AWS::Serverless::Function")["LogSubscriptionsFunction"]["Properties"]
    env = function["Environment"]["Variables"]
    for name, parameter in SETTINGS_FROM_PARAMETERS.items():
        assert props[name] == {"Ref": parameter}, name
        assert parameter in TEMPLATE["Parameters"], parameter
    for name, variable in SETTINGS_FROM_ENVIRONMENT.items():
        expected = {"Fn::Join": [",", props[name]]} if isinstance(props[name], list) else props[name]
        assert env[variable] == expected, variable
    assert set(SETTINGS_FROM_PARAMETERS) | set(SETTINGS_FROM_ENVIRONMENT) == set(props) - {
        "ServiceToken",
        "ServiceTimeout",
        "Revision",
    }, "every property the handler reads"
    assert env["STACK_ID"] == {"Ref": "AWS::StackId"}
    assert env["SUBSCRIPTIONS_RESOURCE"] in resources_of("Custom::LogSubscriptions"), "the pass starts from its time"
    (schedule,) = function["Events"].values()
    assert schedule["Type"] == "Schedule"
    assert schedule["Properties"]["Schedule"] == {"Ref": "LogSubscriptionsSchedule"}


# --- the pipeline's wiring -------------------------------------------------------------------------------------


def test_firehose_reads_the_logs_stream_through_the_transformer_into_dt_hour_partitions() -> None:
    (stream,) = resources_of("AWS::KinesisFirehose::DeliveryStream").values()
    props = stream["Properties"]
    assert refers_to(props["KinesisStreamSourceConfiguration"]["KinesisStreamARN"], "LogsStream")
    s3 = props["ExtendedS3DestinationConfiguration"]
    (processor,) = s3["ProcessingConfiguration"]["Processors"]
    parameters = {p["ParameterName"]: p["ParameterValue"] for p in processor["Parameters"]}
    assert refers_to(parameters["LambdaArn"], "LogTransformerFunction")
    assert 0.2 <= float(parameters["BufferSizeInMBs"]) <= 3
    assert s3["DynamicPartitioningConfiguration"]["Enabled"] is True
    assert s3["BufferingHints"]["SizeInMBs"] >= 64  # dynamic partitioning's minimum
    assert "!{partitionKeyFromLambda:dt}" in s3["Prefix"]
    assert "!{partitionKeyFromLambda:hour}" in s3["Prefix"]
    assert s3["S3BackupMode"] == "Enabled"
    assert s3["S3BackupConfiguration"]["Prefix"].startswith("raw/")


def test_the_opensearch_bootstrap_reruns_when_its_assets_change() -> None:
    (bootstrap,) = resources_of("Custom::OpenSearchBootstrap").values()
    props = bootstrap["Properties"]
    assert refers_to(props["ServiceToken"], "OpenSearchSetupFunction")
    assert props["AssetsVersion"] == {"Ref": "OpenSearchSetupFunction.Version"}
    function = RESOURCES["OpenSearchSetupFunction"]
    assert function["Properties"].get("AutoPublishAlias"), "no version to follow without AutoPublishAlias"
    assert function["Metadata"]["BuildMethod"] == "makefile"
    assert (ROOT / function["Properties"]["CodeUri"] / "Makefile").is_file()


def test_the_artifacts_are_uploaded_again_for_every_build() -> None:
    (artifacts,) = resources_of("Custom::DeployArtifacts").values()
    props = artifacts["Properties"]
    assert refers_to(props["ServiceToken"], "DeployArtifactsFunction")
    assert props["FunctionVersion"] == {"Ref": "DeployArtifactsFunction.Version"}
    assert props["Bucket"] == {"Ref": "ArchiveBucket"}
    function = RESOURCES["DeployArtifactsFunction"]
    assert function["Properties"].get("AutoPublishAlias"), "no version to follow without AutoPublishAlias"
    assert function["Metadata"]["BuildMethod"] == "makefile"
    makefile = (ROOT / function["Properties"]["CodeUri"] / "Makefile").read_text()
    assert "build-DeployArtifactsFunction:" in makefile


def test_the_artifacts_never_expire() -> None:
    """The archive's expiry applies per prefix: the Flink zip and the Glue libraries under artifacts/ stay."""
    rules = properties("ArchiveBucket")["LifecycleConfiguration"]["Rules"]
    expiring = [rule for rule in rules if "ExpirationInDays" in rule or "ExpirationDate" in rule]
    assert {rule.get("Prefix") for rule in expiring} >= {"events/", "raw/", "errors/"}
    for rule in expiring:
        assert rule.get("Prefix"), f"{rule['Id']} expires every prefix, artifacts/ included"
        assert not "artifacts/".startswith(rule["Prefix"]), rule["Id"]


def test_the_archive_moves_to_colder_storage_before_it_expires() -> None:
    rules = {rule.get("Prefix"): rule for rule in properties("ArchiveBucket")["LifecycleConfiguration"]["Rules"]}
    for prefix, classes in {"events/": ["STANDARD_IA"], "raw/": ["STANDARD_IA", "GLACIER_IR"]}.items():
        transitions = rules[prefix]["Transitions"]
        assert [t["StorageClass"] for t in transitions] == classes, prefix
        days = [t["TransitionInDays"] for t in transitions]
        assert days == sorted(days) and days[0] >= 30, "Standard-IA takes objects 30 days old at the earliest"
        minimum = PARAMETERS["RawArchiveExpirationDays"]["MinValue"]
        assert int(minimum) > days[-1], "expiry must come after the last transition, or CloudFormation refuses"


def test_the_deployed_configuration_reaches_the_metrics_function_and_the_glue_job() -> None:
    """Alerting is on after a plain deploy: the rules and SLOs of config/ travel with DeployArtifacts."""
    variables = properties("MetricsProcessorFunction")["Environment"]["Variables"]
    assert variables["ALERT_RULES"] == {
        "Fn::If": [
            "HasAlertRulesInS3",
            {"Ref": "AlertRulesLocation"},
            {"Fn::GetAtt": ["DeployArtifacts", "AlertRulesUri"]},
        ]
    }
    (job,) = resources_of("AWS::Glue::Job").values()
    arguments = job["Properties"]["DefaultArguments"]
    assert arguments["--extra-files"] == {
        "Fn::Sub": "${DeployArtifacts.SloObjectivesUri},${DeployArtifacts.DeclaredMetricsUri}"
    }
    assert arguments["--slo_config"] == "slo.yaml", "Glue copies --extra-files into the working directory"
    assert arguments["--metrics_config"] == "metrics.yaml"
    makefile = (ROOT / "functions" / "deploy_artifacts" / "Makefile").read_text()
    assert "config/slo.yaml" in makefile and "config/alert-rules.yaml" in makefile
    assert "config/metrics.yaml" in makefile


def test_the_declared_parser_rules_reach_the_transformer_and_the_flink_job() -> None:
    """config/parsers.yaml: the transformer reads the DeployArtifacts copy (and may read nothing else of
    artifacts/), the Flink job the copy its zip carries."""
    transformer = properties("LogTransformerFunction")
    assert transformer["Environment"]["Variables"]["PARSER_RULES"] == {
        "Fn::GetAtt": ["DeployArtifacts", "ParserRulesUri"]
    }
    reads = [
        statement
        for policy in transformer["Policies"]
        for statement in policy["Statement"]
        if statement["Action"] == "s3:GetObject"
    ]
    assert [statement["Resource"] for statement in reads] == [{"Fn::Sub": "${ArchiveBucket.Arn}/artifacts/config/*"}]
    makefile = (ROOT / "functions" / "deploy_artifacts" / "Makefile").read_text()
    assert "config/parsers.yaml" in makefile
    (application,) = resources_of("AWS::KinesisAnalyticsV2::Application").values()
    groups = {
        group["PropertyGroupId"]: group["PropertyMap"]
        for group in application["Properties"]["ApplicationConfiguration"]["EnvironmentProperties"]["PropertyGroups"]
    }
    assert groups["job"]["parser.rules"] == "config/parsers.yaml"  # flink/build_zip.py puts it there
    assert groups["job"]["metrics"] == "config/metrics.yaml"


def test_the_flink_application_runs_the_deployed_zip_and_is_started() -> None:
    app = properties("RealtimeApplication")
    assert "Condition" not in RESOURCES["RealtimeApplication"], "always created: its zip comes with the deploy"
    location = app["ApplicationConfiguration"]["ApplicationCodeConfiguration"]["CodeContent"]["S3ContentLocation"]
    assert location["BucketARN"] == {"Fn::GetAtt": ["ArchiveBucket", "Arn"]}
    assert location["FileKey"] == {"Fn::GetAtt": ["DeployArtifacts", "FlinkApplicationKey"]}
    (start,) = resources_of("Custom::FlinkApplicationStart").values()
    props = start["Properties"]
    assert refers_to(props["ServiceToken"], "FlinkStarterFunction")
    assert props["ApplicationName"] == {"Ref": "RealtimeApplication"}
    assert refers_to(props, "DeployArtifacts"), "a new zip must send the starter an Update"
    assert "RealtimeApplicationLogging" in as_list(start.get("DependsOn", [])), "start once logging is attached"
    starter = [s for p, s in STATEMENTS if p[1] == "FlinkStarterFunction"]
    flink = [s for s in starter if any(a.startswith("kinesisanalytics:") for a in as_list(s["Action"]))]
    assert {a for s in flink for a in as_list(s["Action"])} == {
        "kinesisanalytics:DescribeApplication",
        "kinesisanalytics:ListApplicationSnapshots",
        "kinesisanalytics:StartApplication",
    }
    for statement in flink:
        assert statement["Resource"]["Fn::Sub"].endswith(":application/${RealtimeApplication}")
    assert not any("iam:PassRole" in as_list(s["Action"]) for s in starter)


def test_the_engines_read_only_their_artifacts() -> None:
    def reads(role: str) -> list[Any]:
        return [
            s["Resource"]
            for p, s in STATEMENTS
            if p[1] == role and "s3:GetObject" in as_list(s["Action"]) and "artifacts" in json.dumps(s["Resource"])
        ]

    assert reads("RealtimeApplicationRole") == [{"Fn::Sub": "${ArchiveBucket.Arn}/artifacts/flink/*"}]
    (glue,) = reads("BatchJobRole")
    assert {"Fn::Sub": "${ArchiveBucket.Arn}/artifacts/glue/*"} in glue
    assert not any("artifacts/flink" in json.dumps(r) for r in glue)


def test_the_glue_job_runs_glue_5_with_bookmarks() -> None:
    jobs = resources_of("AWS::Glue::Job")
    assert jobs
    for name, job in jobs.items():
        props = job["Properties"]
        assert props["GlueVersion"] == "5.0", name
        assert props["Command"]["Name"] == "glueetl", name
        # uploaded by DeployArtifacts with the job's libraries, under the prefix its role reads
        assert props["Command"]["ScriptLocation"] == {"Fn::GetAtt": ["DeployArtifacts", "BatchJobScriptUri"]}, name
        assert props["DefaultArguments"]["--job-bookmark-option"] == "job-bookmark-enable", name
        assert props.get("SecurityConfiguration"), name


def _substituted(value: Any) -> Any:
    """A catalog file's value as the template writes it: strings with ``${...}`` are ``Fn::Sub``."""
    if isinstance(value, dict):
        return {key: _substituted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_substituted(item) for item in value]
    return {"Fn::Sub": value} if isinstance(value, str) and "${" in value else value


def test_the_catalog_tables_are_the_ones_in_glue_catalog() -> None:
    tables = {table["Properties"]["TableInput"]["Name"]: table for table in resources_of("AWS::Glue::Table").values()}
    assert set(tables) == {"rollups", "events"}
    for name, table in tables.items():
        expected = json.loads((ROOT / "glue" / "catalog" / f"{name}_table.json").read_text())
        assert table["Properties"]["TableInput"] == _substituted(expected), name


def test_the_events_table_declares_every_log_event_field_with_its_type() -> None:
    from opsanalytics.batch.transforms import LOG_EVENT_SPARK_TYPES

    table = json.loads((ROOT / "glue" / "catalog" / "events_table.json").read_text())
    columns = [(column["Name"], column["Type"]) for column in table["StorageDescriptor"]["Columns"]]
    assert columns == [(name, kind.simpleString()) for name, kind in LOG_EVENT_SPARK_TYPES.items()]
    assert [key["Name"] for key in table["PartitionKeys"]] == ["dt", "hour"]
    assert table["Parameters"]["storage.location.template"].endswith("/events/dt=${!dt}/hour=${!hour}/")


# What the JSON SerDe reads into each column type; ``attributes``, a string column, takes the JSON object as text.
JSON_TYPES_OF: dict[str, set[type]] = {"int": {int}, "bigint": {int}, "double": {int, float}, "boolean": {bool}}


def test_the_events_table_reads_what_the_transformer_writes(load_event: Any) -> None:
    """Every field of the events the transformer writes for the sample Firehose event is a column, with a value
    of a JSON type the column's type reads."""
    from opsanalytics.transform.firehose import transform_record

    table = json.loads((ROOT / "glue" / "catalog" / "events_table.json").read_text())
    columns = {column["Name"]: column["Type"] for column in table["StorageDescriptor"]["Columns"]}
    written: dict[str, list[Any]] = {}
    for record in load_event("log_transformer/firehose-logs.json")["records"]:
        outcome = transform_record(record["recordId"], record["data"])
        for line in outcome.data.splitlines() if outcome.result == "Ok" else ():
            for key, value in json.loads(line).items():
                written.setdefault(key, []).append(value)
    assert "attributes" in written
    assert set(written) <= set(columns), set(written) - set(columns)
    for name, values in written.items():
        allowed = {dict} if name == "attributes" else JSON_TYPES_OF.get(columns[name], {str})
        assert {type(value) for value in values} <= allowed, (name, columns[name])


def test_the_flink_application_runs_flink_1_20_with_the_local_property_groups() -> None:
    applications = resources_of("AWS::KinesisAnalyticsV2::Application")
    assert applications
    local = json.loads((ROOT / "flink" / "application_properties.json").read_text())
    local_groups = {group["PropertyGroupId"]: group["PropertyMap"] for group in local}
    for name, application in applications.items():
        props = application["Properties"]
        assert props["RuntimeEnvironment"] == "FLINK-1_20", name
        groups = {
            group["PropertyGroupId"]: group["PropertyMap"]
            for group in props["ApplicationConfiguration"]["EnvironmentProperties"]["PropertyGroups"]
        }
        assert set(groups) == set(local_groups), name
        run_options = "kinesis.analytics.flink.run.options"
        assert groups[run_options] == local_groups[run_options], name
        assert refers_to(groups["source"]["stream.arn"], "LogsStream"), name
        assert refers_to(groups["sink"]["stream.arn"], "MetricsStream"), name
        # the same windows, watermark and corrections as a local run (`parse_settings` reads every key)
        assert groups["windows"] == local_groups["windows"], name


def test_every_function_has_error_and_throttle_alarms() -> None:
    alarmed: dict[str, set[str]] = {}
    for alarm in resources_of("AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        if props.get("Namespace") != "AWS/Lambda":
            continue
        for dimension in props["Dimensions"]:
            if dimension["Name"] == "FunctionName":
                alarmed.setdefault(dimension["Value"]["Ref"], set()).add(props["MetricName"])
    for name in resources_of("AWS::Serverless::Function"):
        assert alarmed.get(name) == {"Errors", "Throttles"}, name


def test_the_glue_job_loads_the_deployed_libraries_and_writes_through_its_sink() -> None:
    (job,) = resources_of("AWS::Glue::Job").values()
    arguments = job["Properties"]["DefaultArguments"]
    assert arguments["--extra-py-files"] == {"Fn::GetAtt": ["DeployArtifacts", "GlueRuntimeUri"]}
    _, variables = arguments["--additional-python-modules"]["Fn::Sub"]
    assert variables == {"CoreWheel": {"Fn::GetAtt": ["DeployArtifacts", "CoreWheelUri"]}}
    assert arguments["--sink"] == {"Fn::If": ["HasOpenSearchSparkJar", "connector", "bulk"]}
    assert refers_to(arguments["--opensearch_url"], "OpenSearchUrl")


def test_the_glue_job_installs_the_pinned_core_requirements() -> None:
    """--additional-python-modules repeats src/requirements.txt (without the pins marked Lambda only) after the
    project's wheel: the pins drift silently otherwise."""
    pins = {
        line.split("#", 1)[0].strip().lower()
        for line in (ROOT / "src" / "requirements.txt").read_text().splitlines()
        if line.split("#", 1)[0].strip() and "Lambda only" not in line
    }
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    (job,) = resources_of("AWS::Glue::Job").values()
    template, _ = job["Properties"]["DefaultArguments"]["--additional-python-modules"]["Fn::Sub"]
    modules = template.split(",")
    assert modules[0] == "${CoreWheel}"
    assert set(modules[1:]) == pins
    # the wheel the artifacts function ships is the project's (functions/deploy_artifacts/Makefile builds it)
    from opsanalytics.deploy.artifacts import ARTIFACT_KINDS

    assert f"{project['name']}-*-py3-none-any.whl" in {kind.pattern for kind in ARTIFACT_KINDS}


def test_the_batch_schedule_is_a_parameter_with_an_hourly_default() -> None:
    (trigger,) = resources_of("AWS::Glue::Trigger").values()
    assert trigger["Properties"]["Schedule"] == {"Ref": "BatchSchedule"}
    schedule = PARAMETERS["BatchSchedule"]
    assert re.fullmatch(schedule["AllowedPattern"], schedule["Default"])
    assert re.fullmatch(schedule["AllowedPattern"], "cron(15 0/6 * * ? *)")
    assert not re.fullmatch(schedule["AllowedPattern"], "rate(1 hour)"), "Glue triggers take cron only"


# --- a first deploy that succeeds, a rollback that leaves no wreck -------------------------------------------


def test_the_archive_and_its_key_outlive_the_stack() -> None:
    """A failed first deploy or `sam delete` leaves the buckets (never empty: DeployArtifacts writes at once) and
    the key that encrypts them, instead of ending in DELETE_FAILED / ROLLBACK_FAILED."""
    for name in ("ArchiveBucket", "AccessLogsBucket", "DataKey"):
        assert RESOURCES[name].get("DeletionPolicy") == "Retain", name
        assert RESOURCES[name].get("UpdateReplacePolicy") == "Retain", name


def custom_resources() -> dict[str, dict[str, Any]]:
    return {name: r for name, r in RESOURCES.items() if r["Type"].startswith("Custom::")}


@pytest.mark.parametrize("name", sorted(custom_resources()))
def test_custom_resources_time_out_after_their_function(name: str) -> None:
    """Without ServiceTimeout CloudFormation waits 3,600 s for a function that crashed before answering."""
    props = custom_resources()[name]["Properties"]
    function = props["ServiceToken"]["Fn::GetAtt"][0]
    timeout = RESOURCES[function]["Properties"].get("Timeout", TEMPLATE["Globals"]["Function"]["Timeout"])
    assert timeout < props["ServiceTimeout"] <= timeout + 120, name


@pytest.mark.parametrize(
    "name", ["MetricsProcessorEventSource", "LogIndexerEventSource", "RealtimeApplicationStart", "BatchJobSchedule"]
)
def test_writers_to_opensearch_start_after_the_bootstrap(name: str) -> None:
    assert "OpenSearchBootstrap" in as_list(RESOURCES[name].get("DependsOn", [])), name


def test_the_metrics_function_reads_its_stream_only_through_the_mapping_that_waits() -> None:
    for function in ("MetricsProcessorFunction", "LogIndexerFunction"):
        assert not properties(function).get("Events"), function
    mappings = {
        m["Properties"]["FunctionName"]["Ref"]: m for m in resources_of("AWS::Lambda::EventSourceMapping").values()
    }
    assert sorted(mappings) == ["LogIndexerFunction", "MetricsProcessorFunction"]


def _opensearch_http_grants() -> list[tuple[tuple[str, ...], dict[str, Any]]]:
    return [(p, st) for p, st in STATEMENTS if any(str(a).startswith("es:ESHttp") for a in as_list(st["Action"]))]


def test_opensearch_grants_name_one_domain() -> None:
    """es:ESHttp* on domain/* would reach every domain of the account; the domain's own policy excepted."""
    grants = _opensearch_http_grants()
    assert grants
    for path, statement in grants:
        if path[:2] == ("Resources", "OpenSearchDomain"):
            continue
        text = json.dumps(statement["Resource"])
        assert "domain/*" not in text, path
        assert "OpenSearchDomain" in text and "${OpenSearchDomainName}" in text, path


def test_the_domain_admits_the_pipeline_and_its_admins_not_the_account() -> None:
    (statement,) = properties("OpenSearchDomain")["AccessPolicies"]["Statement"]
    principals = json.dumps(statement["Principal"])
    assert ":root" not in principals
    for role in (
        "OpenSearchSetupFunctionRole",
        "MetricsProcessorFunctionRole",
        "LogIndexerFunctionRole",
        "BatchJobRole",
    ):
        assert role in principals, role
    assert properties("OpenSearchDomain")["AdvancedSecurityOptions"]["MasterUserOptions"]["MasterUserARN"] == {
        "Fn::GetAtt": ["OpenSearchSetupFunctionRole", "Arn"]
    }


@pytest.mark.parametrize(
    "role", ["OpenSearchSetupFunctionRole", "MetricsProcessorFunctionRole", "LogIndexerFunctionRole", "BatchJobRole"]
)
def test_roles_mapped_in_opensearch_have_names_known_before_the_deploy(role: str) -> None:
    name = properties(role)["RoleName"]["Fn::Sub"]
    assert name.startswith("${AWS::StackName}-"), role
    assert len(name.replace("${AWS::StackName}", "")) <= 64 - 40, f"{role}: leaves room for a 40-character stack name"


def test_service_principals_of_the_key_act_for_this_account_only() -> None:
    for path, statement in STATEMENTS:
        if not is_key_policy(path):
            continue
        principal = statement.get("Principal", {})
        if "Service" not in principal:
            continue
        conditions = json.dumps(statement.get("Condition", {}))
        assert "aws:SourceAccount" in conditions or "kms:EncryptionContext" in conditions, statement.get("Sid")


def test_the_glue_role_reads_nothing_of_the_packaging_bucket() -> None:
    assert "PackagingBucketNamePattern" not in PARAMETERS
    assert "samclisourcebucket" not in json.dumps(properties("BatchJobRole"))


# --- parameters the service would reject ----------------------------------------------------------------------


def _evaluate(expression: Any, values: dict[str, str]) -> Any:
    """The template's Rules functions, over parameter values (strings, as CloudFormation compares them)."""
    if isinstance(expression, dict):
        ((function, argument),) = expression.items()
        if function == "Ref":
            if PARAMETERS.get(argument, {}).get("Type") == "CommaDelimitedList":
                return values[argument].split(",")
            return values[argument]
        args = [_evaluate(a, values) for a in argument] if isinstance(argument, list) else argument
        if function == "Fn::Equals":
            return str(args[0]) == str(args[1])
        if function == "Fn::Not":
            return not args[0]
        if function == "Fn::And":
            return all(args)
        if function == "Fn::Or":
            return any(args)
        if function == "Fn::Contains":
            return str(args[1]) in [str(v) for v in args[0]]
        raise AssertionError(f"no evaluator for {function}")
    if isinstance(expression, list):
        return [_evaluate(e, values) for e in expression]
    return expression


def rule_failures(overrides: dict[str, str]) -> list[str]:
    values = {name: str(p.get("Default", "")) for name, p in PARAMETERS.items()} | overrides
    for name, value in values.items():
        allowed = PARAMETERS[name].get("AllowedValues")
        if allowed is not None and value not in [str(v) for v in allowed]:
            return [f"{name}={value} is not an allowed value"]
    failures = []
    for name, rule in TEMPLATE["Rules"].items():
        if "RuleCondition" in rule and not _evaluate(rule["RuleCondition"], values):
            continue
        failures += [
            f"{name}: {a['AssertDescription']}" for a in rule["Assertions"] if not _evaluate(a["Assert"], values)
        ]
    return failures


def test_pressing_enter_through_the_guided_deploy_gives_a_stack_that_deploys() -> None:
    assert rule_failures({}) == []
    assert PARAMETERS["CreateOpenSearchDomain"]["Default"] == "true"
    assert PARAMETERS["OpenSearchInstanceType"]["Default"] == "t3.medium.search"


@pytest.mark.parametrize(
    ("overrides", "refused"),
    [
        ({"OpenSearchInstanceCount": "3"}, "OpenSearchInstanceCount=3"),
        ({"OpenSearchInstanceCount": "1", "OpenSearchReplicas": "1"}, "SingleNodeDomainsHaveNoReplicas"),
        ({"OpenSearchVolumeSize": "500"}, "SmallInstancesTakeSmallVolumes"),
        ({"OpenSearchInstanceType": "t3.small.search"}, "SmallInstancesTakeSmallVolumes"),
        ({"OpenSearchInstanceType": "r7g.large.search", "OpenSearchVolumeSize": "1500"}, "LargeInstances"),
        ({"CreateOpenSearchDomain": "false"}, "OpenSearchIsGiven"),
        ({"CreateOpenSearchDomain": "false", "OpenSearchUrl": "https://search-x.us-east-1.es.amazonaws.com"}, "Name"),
    ],
)
def test_what_opensearch_service_refuses_is_refused_first(overrides: dict[str, str], refused: str) -> None:
    failures = rule_failures(overrides)
    assert failures and refused in failures[0], failures


@pytest.mark.parametrize(
    "overrides",
    [
        {"OpenSearchInstanceCount": "2", "OpenSearchReplicas": "1", "OpenSearchInstanceType": "r7g.large.search"},
        {"OpenSearchInstanceType": "r7g.xlarge.search", "OpenSearchVolumeSize": "1500"},
        {"CreateOpenSearchDomain": "false", "OpenSearchUrl": "https://x.es", "OpenSearchDomainName": "logs"},
    ],
)
def test_production_sizes_and_the_existing_domain_route_pass_the_rules(overrides: dict[str, str]) -> None:
    assert rule_failures(overrides) == []


# --- signing in to Dashboards (created domain) ---------------------------------------------------------------

DASHBOARDS_LOGIN = (
    "DashboardsUserPool",
    "DashboardsUserPoolDomain",
    "DashboardsIdentityPool",
    "DashboardsAdminRole",
    "DashboardsViewerRole",
    "DashboardsCognitoAccessRole",
    "DashboardsAdminsGroup",
    "DashboardsViewersGroup",
    "DashboardsLoginFunction",
    "DashboardsLogin",
)


def test_the_created_domain_signs_people_in_through_the_stacks_cognito_pools() -> None:
    from tests.support.cloudformation import Stack

    created, existing = (
        Stack({}),
        Stack({"CreateOpenSearchDomain": "false", "OpenSearchUrl": "https://x", "OpenSearchDomainName": "x"}),
    )
    for name in DASHBOARDS_LOGIN:
        assert created.exists(name) and not existing.exists(name), name
    cognito = properties("OpenSearchDomain")["CognitoOptions"]
    assert cognito["Enabled"] is True
    assert refers_to(cognito["UserPoolId"], "DashboardsUserPool")
    assert refers_to(cognito["IdentityPoolId"], "DashboardsIdentityPool")
    assert refers_to(cognito["RoleArn"], "DashboardsCognitoAccessRole")
    assert "DashboardsUserPoolDomain" in resources_of("AWS::OpenSearchService::Domain")["OpenSearchDomain"]["DependsOn"]
    pool = properties("DashboardsUserPool")
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True, "invited people only"
    message = pool["AdminCreateUserConfig"]["InviteMessageTemplate"]["EmailMessage"]["Fn::Sub"]
    assert "{username}" in message and "{####}" in message
    identity = properties("DashboardsIdentityPool")
    assert identity["AllowUnauthenticatedIdentities"] is False
    assert "CognitoIdentityProviders" not in identity, "OpenSearch adds its provider; an update would remove it"
    assert not resources_of("AWS::Cognito::IdentityPoolRoleAttachment"), "DashboardsLogin owns the pool's roles"


def test_admins_and_viewers_are_roles_of_their_own_mapped_by_the_bootstrap() -> None:
    for role, group in (
        ("DashboardsAdminRole", "DashboardsAdminsGroup"),
        ("DashboardsViewerRole", "DashboardsViewersGroup"),
    ):
        (statement,) = properties(role)["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Principal"] == {"Federated": "cognito-identity.amazonaws.com"}
        assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert refers_to(
            statement["Condition"]["StringEquals"]["cognito-identity.amazonaws.com:aud"], "DashboardsIdentityPool"
        )
        assert statement["Condition"]["ForAnyValue:StringLike"] == {
            "cognito-identity.amazonaws.com:amr": "authenticated"
        }
        assert refers_to(properties(group)["RoleArn"], role)
    bootstrap = properties("OpenSearchBootstrap")
    assert refers_to(bootstrap["AdminArns"], "DashboardsAdminRole")
    assert refers_to(bootstrap["ViewerArns"], "DashboardsViewerRole")
    principals = properties("OpenSearchDomain")["AccessPolicies"]["Statement"][0]["Principal"]["AWS"]
    assert refers_to(principals, "DashboardsAdminRole") and refers_to(principals, "DashboardsViewerRole")


def test_the_first_admin_is_invited_only_when_an_address_is_given() -> None:
    from tests.support.cloudformation import Stack

    assert not Stack({}).exists("DashboardsAdminUser")
    invited = Stack({"DashboardsAdminEmail": "ops@example.com"})
    assert invited.exists("DashboardsAdminUser") and invited.exists("DashboardsAdminMembership")
    membership = properties("DashboardsAdminMembership")
    assert refers_to(membership["GroupName"], "DashboardsAdminsGroup")


def test_dashboards_login_runs_after_the_domain_and_is_updated_with_what_it_acts_on() -> None:
    login = properties("DashboardsLogin")
    assert refers_to(login["ServiceToken"], "DashboardsLoginFunction")
    assert refers_to(login["DomainArn"], "OpenSearchDomain"), "after the domain made its app client"
    for name, target in (
        ("UserPoolId", "DashboardsUserPool"),
        ("IdentityPoolId", "DashboardsIdentityPool"),
        ("ViewerRoleArn", "DashboardsViewerRole"),
    ):
        assert refers_to(login[name], target)
    assert login["ServiceTimeout"] > properties("DashboardsLoginFunction")["Timeout"]


def test_the_dashboards_url_is_an_output_and_in_the_alert_emails() -> None:
    outputs = TEMPLATE["Outputs"]
    assert "DashboardsUrl" in outputs and "DashboardsUserPoolId" in outputs
    from tests.support.cloudformation import Stack

    def alert_link(parameters: dict[str, str]) -> str:
        stack = Stack(parameters)
        variables = stack.template["Resources"]["MetricsProcessorFunction"]["Properties"]["Environment"]["Variables"]
        return str(stack.resolve(variables["DASHBOARD_URL"]))

    created = Stack({}).get_att("OpenSearchDomain", "DomainEndpoint")
    assert alert_link({}) == f"https://{created}/_dashboards", "the created domain's Dashboards by default"
    assert alert_link({"DashboardUrl": "https://dash.example.com"}) == "https://dash.example.com", "given wins"


# --- a domain inside a VPC ----------------------------------------------------------------------------------

VPC = {"VpcSubnetIds": "subnet-0a,subnet-0b", "VpcSecurityGroupIds": "sg-0c", "VpcGlueAvailabilityZone": "us-east-1a"}


def test_what_reaches_opensearch_runs_in_the_vpc_when_subnets_are_given() -> None:
    from tests.support.cloudformation import Stack

    public, private = Stack({}), Stack(VPC)
    for function in ("MetricsProcessorFunction", "LogIndexerFunction", "OpenSearchSetupFunction"):
        config = private.resolve(properties(function)["VpcConfig"])
        assert config == {"SubnetIds": ["subnet-0a", "subnet-0b"], "SecurityGroupIds": ["sg-0c"]}, function
        assert public.resolve(properties(function)["VpcConfig"]) is None, function
        role = private.resolve(properties(f"{function}Role")["ManagedPolicyArns"])
        assert any(arn.endswith("/AWSLambdaVPCAccessExecutionRole") for arn in role), function
        assert not any("VPCAccess" in arn for arn in public.resolve(properties(f"{function}Role")["ManagedPolicyArns"]))
    others = [n for n, r in resources_of("AWS::Serverless::Function").items() if "VpcConfig" in r["Properties"]]
    expected = ["LogIndexerFunction", "MetricsProcessorFunction", "OpenSearchSetupFunction"]
    assert sorted(others) == expected, "the others call only AWS APIs"
    assert private.exists("BatchJobConnection") and not public.exists("BatchJobConnection")
    requirements = private.resolve(properties("BatchJobConnection"))["ConnectionInput"][
        "PhysicalConnectionRequirements"
    ]
    assert requirements == {"SubnetId": "subnet-0a", "SecurityGroupIdList": ["sg-0c"], "AvailabilityZone": "us-east-1a"}
    assert refers_to(properties("BatchJob")["Connections"], "BatchJobConnection")
    statements = private.resolve(properties("BatchJobRole"))["Policies"][0]["PolicyDocument"]["Statement"]
    assert any("ec2:CreateNetworkInterface" in as_list(st["Action"]) for st in statements)
    public_statements = public.resolve(properties("BatchJobRole"))["Policies"][0]["PolicyDocument"]["Statement"]
    assert not any("ec2:CreateNetworkInterface" in as_list(st["Action"]) for st in public_statements)


def test_the_created_domain_takes_one_subnet_per_zone() -> None:
    from tests.support.cloudformation import Stack

    single = Stack(VPC).resolve(properties("OpenSearchDomain")["VPCOptions"])
    assert single == {"SubnetIds": ["subnet-0a"], "SecurityGroupIds": ["sg-0c"]}
    two_zones = {**VPC, "OpenSearchInstanceCount": "2", "OpenSearchReplicas": "1"}
    assert Stack(two_zones).resolve(properties("OpenSearchDomain")["VPCOptions"])["SubnetIds"] == [
        "subnet-0a",
        "subnet-0b",
    ]
    assert Stack({}).resolve(properties("OpenSearchDomain")["VPCOptions"]) is None


def test_subnets_without_security_groups_or_the_glue_zone_are_refused() -> None:
    assert rule_failures(VPC) == []
    failures = rule_failures({"VpcSubnetIds": "subnet-0a"})
    assert any("give VpcSecurityGroupIds" in f for f in failures)
    assert any("give VpcGlueAvailabilityZone" in f for f in failures)


def test_verify_has_what_it_needs_from_the_stack() -> None:
    from opsanalytics.deploy.verify import REQUIRED_OUTPUTS

    assert set(REQUIRED_OUTPUTS) <= set(TEMPLATE["Outputs"])
    assert refers_to(TEMPLATE["Outputs"]["LogsSubscriptionRoleArn"]["Value"], "CloudWatchLogsToLogsStreamRole")
    variables = properties("MetricsProcessorFunction")["Environment"]["Variables"]
    assert refers_to(variables["OPERATIONS_TOPIC_ARN"], "OperationsTopic"), "where the self-test alerts go"


def _names_a_resource(value: Any) -> bool:
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"] in TEMPLATE["Resources"]
        if "Fn::GetAtt" in value:
            return True
        if "Fn::Sub" in value:
            text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
            return any(f"${{{name}" in text for name in TEMPLATE["Resources"])
        return any(_names_a_resource(v) for v in value.values())
    if isinstance(value, list):
        return any(_names_a_resource(v) for v in value)
    return False


@pytest.mark.parametrize("function", ["MetricsProcessorFunction", "LogTransformerFunction", "LogIndexerFunction"])
def test_sam_local_gets_a_value_for_every_variable_set_from_a_resource(function: str) -> None:
    """sam local invoke leaves a resource's Ref as its logical id ("OperationsTopic"), which the settings parsed at
    cold start refuse: events/env.json gives each such variable of the functions that parse settings at import."""
    variables = properties(function)["Environment"]["Variables"]
    from_resources = {name for name, value in variables.items() if _names_a_resource(value)}
    given = json.loads((ROOT / "events" / "env.json").read_text()).get(function, {})
    assert from_resources <= set(given), sorted(from_resources - set(given))
