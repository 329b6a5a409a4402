"""Search: strategies (ask/tell over an objective) and the runner that drives them.

``base`` (Strategy, Member, Candidate, GenerationSummary), ``strategies`` (the
registry), ``encodings`` (Genome, Variation, the encoding registry), ``variation``
(the grammar encoding), ``one_plus_lambda``, ``runner`` (the loop), ``replay`` (resume
by replay), ``dedup`` (the duplicate cache).
"""
