"""CloudFormation custom resource LogsResourcePolicy: a CloudWatch Logs resource policy, answered once it is served.

A shell: what it does on each request is `opsanalytics.deploy.logs_policy`.
"""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from opsanalytics.deploy import logs_policy
from opsanalytics.deploy.custom_resource import CustomResourceRequest, Outcome, respond

logger = Logger()


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    def put_or_delete(request: CustomResourceRequest) -> Outcome:
        return logs_policy.handle(request, logs=boto3.client("logs"), log=logger)

    default_physical_id = logs_policy.physical_id_of(event.get("ResourceProperties") or {})
    return respond(event, put_or_delete, logger, default_physical_id=default_physical_id)
