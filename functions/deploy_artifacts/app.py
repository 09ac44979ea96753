"""CloudFormation custom resource DeployArtifacts: copy the build artifacts the stack's engines load to S3.

A shell: what it does on each request is `opsanalytics.deploy.artifacts`. The artifacts travel in this function's
package, under artifacts/ beside this file (this folder's Makefile puts them there at `sam build`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Final

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from opsanalytics.deploy import artifacts
from opsanalytics.deploy.custom_resource import CustomResourceRequest, Outcome, respond

logger = Logger()

PACKAGE_ARTIFACTS: Final = Path(__file__).resolve().parent / "artifacts"


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    def deploy(request: CustomResourceRequest) -> Outcome:
        s3 = boto3.client("s3", region_name=os.environ.get("AWS_REGION"))
        return artifacts.handle(request, s3=s3, directory=PACKAGE_ARTIFACTS, log=logger)

    default_physical_id = artifacts.physical_id_of(event.get("ResourceProperties") or {})
    return respond(event, deploy, logger, default_physical_id=default_physical_id)
