"""Job log lines without job arguments: SAQ shows a job by its repr, which lists its
arguments (a mail job's bodies); :class:`JobLogFilter` shows it by id, function, attempt
and, for mail jobs, recipient instead (see :func:`describe_job`)."""

from __future__ import annotations

import logging
import re

import saq

MAIL_RECIPIENT_ARGS: dict[str, str] = {}
"""The mail jobs and the argument naming their recipient, shown in their log lines
(from :attr:`Job.recipient_arg`, filled as registries are built)."""
SAQ_LOGGER = "saq"
# what Job.info(full=True) renders (SAQ's INFO lines when its logger is at DEBUG)
_FULL_JOB_INFO = re.compile(r"Job<function: ([^,>]*), kwargs: ")


def describe_job(job: saq.Job) -> str:
    """``<job id> (<function>, attempt <n> of <m>[, to <recipient>])``, for log lines.

    Never the job's arguments (message bodies), result or error.
    """
    job_id = job.queue.job_id(job.key) if job.queue is not None else job.key
    text = f"{job_id} ({job.function}, attempt {job.attempts} of {job.retries}"
    arg = MAIL_RECIPIENT_ARGS.get(job.function)
    to = (job.kwargs or {}).get(arg) if arg else None
    if to:
        text += f", to {', '.join(map(str, to)) if isinstance(to, list) else to}"
    return f"{text})"


class JobLogFilter(logging.Filter):
    """A filter for SAQ's logger: no job arguments in its records.

    SAQ logs a failed job as ``Error processing job %s`` with the job itself, whose repr
    lists its arguments; with its logger at DEBUG, its INFO lines (processing, retrying,
    finished) render them too. Here a job argument becomes :func:`describe_job` (and sets
    the record's ``job_id`` and ``job_function``), and a rendered ``Job<...>`` keeps only
    its function. The record, its level and its traceback are kept.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite ``record``'s arguments; never drops it."""
        if isinstance(record.args, tuple):
            record.args = tuple(self._safe(arg, record) for arg in record.args)
        return True

    @staticmethod
    def _safe(arg: object, record: logging.LogRecord) -> object:
        if isinstance(arg, saq.Job):
            record.__dict__.setdefault("job_id", arg.id if arg.queue is not None else arg.key)
            record.__dict__.setdefault("job_function", arg.function)
            return describe_job(arg)
        if isinstance(arg, str) and (found := _FULL_JOB_INFO.match(arg)):
            return f"Job<function: {found.group(1)}, arguments withheld>"
        return arg


def filter_saq_logs() -> None:
    """Add :class:`JobLogFilter` to SAQ's logger (once per process)."""
    logger = logging.getLogger(SAQ_LOGGER)
    if not any(isinstance(f, JobLogFilter) for f in logger.filters):
        logger.addFilter(JobLogFilter())
