"""Reports read only the run store: ``run_report`` (write_report: plots + summary files),
``data`` (a run read once), ``summary`` (the summary document), ``plots``,
``architecture`` (diagram), ``document`` (markdown/HTML), ``metrics`` (how metrics
read), ``describe`` (text of a spec or learning unit), ``status`` (a run's facts)."""
