"""The IngestBuffer function, fed by the ingest queue: writes the requests the API buffered
while the database was away (``funnel.platform.buffer``) through the live path's own idempotent
code (``funnel.operations.replay``). Each batch is reported record by record (Powertools' batch
utility, ``ReportBatchItemFailures``): what failed is retried after the queue's
visibility timeout, and the dead-letter queue takes what failed ``maxReceiveCount`` times."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from funnel.capture.identity import DailySalts
from funnel.operations.replay import BatchReplayer
from funnel.platform.observability import traced_handler
from funnel.platform.runtime import get_runtime

logger = Logger()
metrics = Metrics()
# A batch whose records all fail (the database still away) is reported as such, not
# raised: every record is retried, and the function does not count an error.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
salts = DailySalts()


@logger.inject_lambda_context
@traced_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    replayer = BatchReplayer(get_runtime(), salts)

    def write(record: SQSRecord) -> None:
        replayer(record.body)

    return dict(
        process_partial_response(event=event, record_handler=write, processor=processor, context=context)
    )
