"""CloudFormation custom resource FlinkStarter: start the Managed Flink application CloudFormation created READY.

A shell: what it does on each request is `opsanalytics.deploy.flink_start`.
"""

from __future__ import annotations

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from opsanalytics.deploy import flink_start
from opsanalytics.deploy.custom_resource import CustomResourceRequest, Outcome, respond

logger = Logger()


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    def start(request: CustomResourceRequest) -> Outcome:
        region = os.environ.get("AWS_REGION")
        return flink_start.handle(
            request,
            kinesisanalytics=boto3.client("kinesisanalyticsv2", region_name=region),
            cloudformation=boto3.client("cloudformation", region_name=region),
            seconds_left=lambda: context.get_remaining_time_in_millis() / 1000 - flink_start.RESPONSE_MARGIN_SECONDS,
            log=logger,
        )

    name = (event.get("ResourceProperties") or {}).get("ApplicationName", "flink")
    return respond(event, start, logger, default_physical_id=f"{name}-start")
