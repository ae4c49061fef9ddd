"""What every emulated stack shares, whichever engine runs it (embedded or containers).

- ``defaults``: the stack name, region and dummy credentials local stacks use, and where
  template.yaml is found;
- ``provision``: template.yaml translated offline by aws-sam-translator, and CloudFormation
  stack creation;
- ``http_api``: the local HTTP API that serves the template's routes (``POST /run``) in front
  of Lambda, for engines that have no API Gateway V2;
- ``invoke``: the one contract for invoking a function that the HTTP API, the SQS poller and
  moto's Lambda Invoke all speak.

It depends on nothing above it: not on ``targets``, ``embedded`` or ``containers``.
"""
