"""`testbed dashboard`: a live web view of a stack, on any target, read through its own APIs.

The watches (``executions``, ``queues``, ``stress``) take their clients as parameters and only
read: Step Functions' ListExecutions/DescribeExecution, SQS's GetQueueAttributes, and the
stress workers' once-a-second reports on Redis. ``sampler`` turns them into one snapshot per
interval and keeps a short history; ``server`` serves the page, the snapshots and a stream of
them (Server-Sent Events) on loopback; ``commands`` is the sub-command.
"""
