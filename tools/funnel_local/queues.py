"""SQS for local runs: the template's queues on moto's server mode (on 127.0.0.1 only, in
this process), and Lambda's event source mapping for each function's ``SQS`` events.

Each ``AWS::SQS::Queue`` of the template is created with its visibility timeout, retention
and redrive policy (so a message received ``maxReceiveCount`` times moves to its
dead-letter queue, as in AWS). A function's environment variable set to a queue's URL
(``!Ref Queue``) gets the local queue's, and every function gets ``AWS_ENDPOINT_URL_SQS``
(and placeholder credentials, which moto takes), so boto3 never leaves the machine.

A poller per ``SQS`` event receives up to ``BatchSize`` messages, invokes the function
with them through its worker pool, and deletes those it processed: all of them when it
succeeded (but those it names in ``batchItemFailures`` with ``ReportBatchItemFailures``),
none when it failed; the others come back after the visibility timeout.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections.abc import Mapping
from typing import Any, Final

from funnel_local.template import PSEUDO_PARAMETERS, FunctionSpec, QueueEventSpec, QueueSpec, SamTemplate
from funnel_local.workers import FunctionPool, Outcome, log_function_error

logger = logging.getLogger(__name__)

REGION: Final = PSEUDO_PARAMETERS["AWS::Region"]
# How long a poll waits for messages on an empty queue (SQS long polling).
POLL_WAIT_SECONDS: Final = 1


class LocalQueues:
    """The template's queues on a local SQS server, and their pollers.

    Parameters
    ----------
    template
        The template whose queues and ``SQS`` events are served.
    host
        Where the SQS server listens: loopback only.
    """

    def __init__(self, template: SamTemplate, *, host: str = "127.0.0.1") -> None:
        # Imported on use: only runs with queues need moto's server.
        from moto.server import ThreadedMotoServer

        self._template = template
        self._server = ThreadedMotoServer(ip_address=host, port=0, verbose=False)
        self._server.start()
        bound_host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{bound_host}:{port}"
        self._client = self._sqs_client()
        self._suffix = secrets.token_hex(6).upper()
        self.urls: dict[str, str] = {}
        for spec in self._in_creation_order(template.queues):
            self.urls[spec.logical_id] = self._create(spec)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def environment(self, function: FunctionSpec) -> dict[str, str]:
        """What ``function``'s environment needs for SQS: the endpoint, placeholder
        credentials, and its queue variables set to the local queues' URLs."""
        return {
            "AWS_ENDPOINT_URL_SQS": self.endpoint,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            **{
                name: self.urls[queue]
                for name, queue in function.queue_variables.items()
                if queue in self.urls
            },
        }

    def start_polling(self, pools: Mapping[str, FunctionPool]) -> None:
        """Poll each ``SQS`` event's queue for its function, in a thread of its own."""
        for event in self._template.queue_events:
            thread = threading.Thread(
                target=self._poll,
                args=(event, pools[event.function_id]),
                name=f"funnel-local-sqs-{event.function_id}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    def depth(self, logical_id: str) -> int:
        """Messages in a queue, visible or in flight."""
        attributes = self._client.get_queue_attributes(
            QueueUrl=self.urls[logical_id],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self._server.stop()

    def _sqs_client(self) -> Any:
        import boto3

        return boto3.client(
            "sqs",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - moto's placeholder, not a secret
        )

    @staticmethod
    def _in_creation_order(queues: Mapping[str, QueueSpec]) -> list[QueueSpec]:
        """Dead-letter queues first: a redrive policy names its queue's ARN."""
        return sorted(queues.values(), key=lambda spec: spec.dead_letter_queue is not None)

    def _create(self, spec: QueueSpec) -> str:
        attributes = {
            "VisibilityTimeout": str(spec.visibility_timeout_seconds),
            "MessageRetentionPeriod": str(spec.retention_seconds),
        }
        if spec.dead_letter_queue is not None and spec.max_receive_count is not None:
            dead_letter_arn = self._client.get_queue_attributes(
                QueueUrl=self.urls[spec.dead_letter_queue], AttributeNames=["QueueArn"]
            )["Attributes"]["QueueArn"]
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": str(spec.max_receive_count)}
            )
        # A suffix of its own, as CloudFormation gives a queue it names: two runs in one
        # process (moto's server keeps its queues in the process) never share a queue.
        name = f"{spec.name}-{self._suffix}"
        url: str = self._client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        logger.info("local SQS queue created", extra={"queue": spec.logical_id, "url": url})
        return url

    def _poll(self, event: QueueEventSpec, pool: FunctionPool) -> None:
        url = self.urls[event.queue_id]
        arn = self._client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        while not self._stop.is_set():
            try:
                messages = self._client.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=min(event.batch_size, 10),
                    WaitTimeSeconds=POLL_WAIT_SECONDS,
                    AttributeNames=["All"],
                ).get("Messages", [])
            except Exception:
                if self._stop.is_set():
                    return
                logger.exception("local SQS poll failed", extra={"queue": event.queue_id})
                self._stop.wait(1)
                continue
            if messages:
                self._deliver(event, pool, url, arn, messages)

    def _deliver(
        self, event: QueueEventSpec, pool: FunctionPool, url: str, arn: str, messages: list[dict[str, Any]]
    ) -> None:
        invocation = pool.invoke({"Records": [_record(message, arn) for message in messages]})
        if invocation.outcome is not Outcome.SUCCEEDED:
            log_function_error(invocation, extra={"function": event.function_id, "queue": event.queue_id})
            return
        failed: set[str] = set()
        if event.report_item_failures and isinstance(invocation.result, Mapping):
            failed = {
                str(item.get("itemIdentifier")) for item in invocation.result.get("batchItemFailures") or []
            }
        done = [message for message in messages if message["MessageId"] not in failed]
        if done:
            self._client.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                    for index, message in enumerate(done)
                ],
            )
        logger.info(
            "SQS batch delivered",
            extra={"function": event.function_id, "messages": len(messages), "failed": len(failed)},
        )


def _record(message: Mapping[str, Any], arn: str) -> dict[str, Any]:
    """A message as Lambda's SQS event source passes it."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": {},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": REGION,
    }
