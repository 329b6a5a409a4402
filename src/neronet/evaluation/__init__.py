"""Evaluation: named measurements, objectives (metrics -> fitness), one individual's evaluation.

``result`` and ``objectives`` import no torch (the runner and strategies read
them); ``measurements`` and ``individual`` run networks.
"""
