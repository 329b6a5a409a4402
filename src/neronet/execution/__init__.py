"""Executors: where candidates are evaluated (in-process, worker processes, Ray)."""

from neronet.execution.base import EvalRequest, Executor, make_executor

__all__ = ["EvalRequest", "Executor", "make_executor"]
