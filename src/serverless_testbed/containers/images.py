"""The container images of the containers stack, pinned to exact tags (docker-compose.yml uses
the same ones; a unit test keeps the two in step).

- LocalStack 4.14.0 (2026-02-26) is the last release of the free Community image. From 4.15 /
  2026.03.0 on, and for ``latest``, the image exits at start-up without a LOCALSTACK_AUTH_TOKEN
  (LocalStack's notice of 2026-03-17; testcontainers-dotnet enforces the token from 4.15). 4.14.0
  starts without one and has every service the pipeline uses except API Gateway V2 (HTTP APIs
  were always a paid feature): the containers stack serves POST /run itself (see stack.py).
- Step Functions Local 2.0.0 (2024-05) is AWS's last image; AWS no longer develops it.
- Redis 7.4.2 on Alpine: a small image with redis-cli for the health check.
"""

LOCALSTACK_IMAGE = "localstack/localstack:4.14.0"
STEPFUNCTIONS_LOCAL_IMAGE = "amazon/aws-stepfunctions-local:2.0.0"
REDIS_IMAGE = "redis:7.4.2-alpine"

LOCALSTACK_PORT = 4566
STEPFUNCTIONS_LOCAL_PORT = 8083
REDIS_PORT = 6379

# What the pipeline stack uses (template.yaml), and what deploying it needs (S3 for the code).
LOCALSTACK_SERVICES = (
    "cloudformation",
    "dynamodb",
    "iam",
    "lambda",
    "logs",
    "s3",
    "sqs",
    "stepfunctions",
    "sts",
)
