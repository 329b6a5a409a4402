"""Search: strategies (ask/tell over an objective) and the runner that drives them.

``base`` (Strategy, Candidate, GenerationSummary), ``strategies`` (the
registry), ``one_plus_lambda``, ``runner`` (the loop), ``replay`` (resume by
replay), ``dedup`` (the duplicate cache).
"""
