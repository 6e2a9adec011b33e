"""One run path for every batch job: load the models once, score (a Parquet dataset on
every core or Ray, or records into an Avro file or a topic), then report the same way.

``datasets.py`` shards files and commits a dataset; ``records.py`` scores Avro files or a
topic range in one process. Both take the models loaded here and return a ``RunResult``;
the summary, the shadow comparison, the HTML report and the node_exporter textfile are
written here for both, and a failed run still leaves its textfile (success 0) for the
schedule's alert.
"""

from __future__ import annotations

from consumer.batch.datasets import run_dataset
from consumer.batch.models import BatchModels
from consumer.batch.records import run_records
from consumer.batch.reports.html import write_html
from consumer.batch.reports.stats import BatchStats
from consumer.batch.reports.textfile import write_textfile
from consumer.batch.settings import BatchSettings
from consumer.ops import logs


def run_batch(s: BatchSettings) -> int:
    logs.configure(s.log_level, s.log_format)
    try:
        models = BatchModels.load(s)
        result = run_dataset(s, models) if s.dataset else run_records(s, models)
    except BaseException:
        if s.metrics_textfile is not None:  # what a schedule's alert watches
            write_textfile(BatchStats(), s.metrics_textfile, success=False)
        raise
    if result is None:  # nothing to do (a resume of a complete dataset)
        return 0
    print(result.stats.summary())
    if result.comparison is not None:
        print(result.comparison.summary())
    for line in result.lines:
        print(line)
    if s.report is not None:
        title = f"Batch scores, model {models.model.name}-{models.model.version}"
        write_html(result.stats, s.report, title, result.shards, result.timeline, result.comparison)
    if s.metrics_textfile is not None:
        write_textfile(result.stats, s.metrics_textfile, success=True)
    return 0
