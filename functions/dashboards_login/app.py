"""CloudFormation custom resource DashboardsLogin: the identity pool's roles for the app client OpenSearch made.

A shell: what it does on each request is `opsanalytics.deploy.dashboards_login`.
"""

from __future__ import annotations

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from opsanalytics.deploy import dashboards_login
from opsanalytics.deploy.custom_resource import CustomResourceRequest, Outcome, respond

logger = Logger()


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    def apply(request: CustomResourceRequest) -> Outcome:
        region = os.environ.get("AWS_REGION", "")
        return dashboards_login.handle(
            request,
            cognito_idp=boto3.client("cognito-idp", region_name=region),
            cognito_identity=boto3.client("cognito-identity", region_name=region),
            region=region,
            log=logger,
        )

    properties = event.get("ResourceProperties") or {}
    return respond(event, apply, logger, default_physical_id=str(properties.get("IdentityPoolId") or "none"))
