"""Deploy-time logic of the CloudFormation custom resources (the handlers in functions/ stay thin)."""
