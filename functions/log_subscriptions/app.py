"""CloudFormation custom resource LogSubscriptions, and its scheduled pass: the filters that feed the logs stream.

A shell: what it does on each request and each scheduled pass is `opsanalytics.deploy.subscriptions`.
"""

from __future__ import annotations

import os
from typing import Any, Final

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from opsanalytics.deploy import subscriptions
from opsanalytics.deploy.custom_resource import CustomResourceRequest, Outcome, respond

CLIENT_CONFIG: Final = Config(retries={"mode": "standard", "max_attempts": 10})

logger = Logger()


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    region = os.environ.get("AWS_REGION")

    def time_left() -> float:
        return float(context.get_remaining_time_in_millis()) / 1000

    if event.get("source") == "aws.events":  # the schedule; a failure counts in the function's Errors alarm
        logs = boto3.client("logs", region_name=region, config=CLIENT_CONFIG)
        cloudformation = boto3.client("cloudformation", region_name=region, config=CLIENT_CONFIG)
        return subscriptions.scheduled_pass(logs, cloudformation, os.environ, time_left, log=logger)

    def apply(request: CustomResourceRequest) -> Outcome:
        return subscriptions.handle(
            request,
            logs=boto3.client("logs", region_name=region, config=CLIENT_CONFIG),
            cloudformation=boto3.client("cloudformation", region_name=region),
            time_left=time_left,
            log=logger,
        )

    properties = event.get("ResourceProperties") or {}
    # one physical id for the life of the resource: a new one would make CloudFormation delete "the old" filters
    return respond(event, apply, logger, default_physical_id=str(properties.get("FilterName") or "log-subscriptions"))
