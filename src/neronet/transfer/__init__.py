"""RAS's transfer set: adversarial samples crafted against source models, stored once,
replayed against every evaluated network (``transfer`` measurement, ``ras`` objective).

``artifact`` reads and writes the versioned file, ``sources`` trains the source models,
``build`` attacks them, ``run`` is what opening a search needs (check or build the set).
"""
