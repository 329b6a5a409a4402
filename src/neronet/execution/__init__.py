"""Executors: where candidates are evaluated (in-process, worker processes, Ray, plug-ins')."""

from neronet.execution.base import EXECUTORS, EvalRequest, Executor, make_executor

__all__ = ["EXECUTORS", "EvalRequest", "Executor", "make_executor"]
