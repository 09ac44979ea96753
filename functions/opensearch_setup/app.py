"""CloudFormation custom resource OpenSearchBootstrap: the index templates, ISM policy, Dashboards saved objects and
fine-grained access control roles the pipeline works with.

A shell: what it does on each request is `opsanalytics.deploy.bootstrap`. The assets come from ``assets/`` beside
this file (the checkout's ``assets/``, copied by this folder's Makefile at `sam build`), or from the checkout when
run from the repository.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Final

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from opsanalytics.assets import Assets
from opsanalytics.deploy import bootstrap
from opsanalytics.deploy.custom_resource import CustomResourceRequest, Outcome, respond

logger = Logger()

BUILT_ASSETS: Final = Path(__file__).resolve().parent / "assets"


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    def apply(request: CustomResourceRequest) -> Outcome:
        assets = Assets.locate(BUILT_ASSETS)
        return bootstrap.handle(request, assets=assets, env=os.environ, log=logger)

    return respond(event, apply, logger, default_physical_id=bootstrap.DEFAULT_PHYSICAL_ID)
