"""Local adapters: the same handlers and jobs, driven the way the AWS services drive them."""
