"""Training: one core (:mod:`.core`) shared by the search-time loop (:mod:`.search`) and
post-search training (:mod:`.posttrain`), so a step, a prediction or an lr schedule is
written once and both loops compute them the same way."""
