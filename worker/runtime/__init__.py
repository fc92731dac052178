"""The task runtime: sandbox policy, Odoo recordsets, evaluation context, handler runner.

Public API::

    check_code(source, where="task", require_handler=False, allowlist=None)
    run_handler(*, client, task_code, handler, protected_code="", common_code="", records=None,
                args=(), kwargs=None, params=None, secrets=None, webhooks=None,
                trigger_name=None, user=None, log=None, log_transmission=None, link_api=None,
                add_job=None, allowlist=None, task_name=None, context=None, texts=None)
    format_user_traceback(exc, secrets=None)
    run_isolated(*, connection, limits=None, log=None, log_transmission=None, add_job=None,
                 **run_handler_kwargs)
"""

from worker.runtime.environment import Environment
from worker.runtime.exceptions import (
    AccessError,
    MissingError,
    RetryableJobError,
    SandboxError,
    SandboxLimitExceeded,
    SandboxViolation,
    UserError,
    ValidationError,
)
from worker.runtime.isolation import Limits, UserCodeError, run_isolated
from worker.runtime.policy import HANDLER_NAMES, check_code, compile_code
from worker.runtime.recordset import RecordSet
from worker.runtime.request import HttpRequest, UploadedFile
from worker.runtime.runner import run_handler
from worker.runtime.tracebacks import format_user_traceback, mask_secrets

__all__ = [
    "HANDLER_NAMES", "AccessError", "Environment", "HttpRequest", "Limits", "MissingError",
    "RecordSet", "RetryableJobError", "SandboxError", "SandboxLimitExceeded", "SandboxViolation",
    "UploadedFile", "UserCodeError", "UserError", "ValidationError", "check_code",
    "compile_code", "format_user_traceback", "mask_secrets", "run_handler", "run_isolated",
]
