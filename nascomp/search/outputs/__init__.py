"""What a search leaves: its files, the live report, the handover, the retrain, the fidelity check.

- :mod:`~nascomp.search.outputs.study_files`: ``best.yaml``, ``trials.csv`` and the two plots;
- :mod:`~nascomp.search.outputs.artifacts`: those files attached to the study for optuna-dashboard;
- :mod:`~nascomp.search.outputs.report`: the console report (progress, tables, summary);
- :mod:`~nascomp.search.outputs.handover`: ``baseline.yaml`` and the ``nascomp train`` commands;
- :mod:`~nascomp.search.outputs.retrain`: ``--retrain-epochs``: the winner and the baseline trained to one schedule;
- :mod:`~nascomp.search.outputs.fidelity`: ``--check-fidelity``: is the proxy's ranking trusted;
- :mod:`~nascomp.search.outputs.regenerate`: the outputs rewritten from a stored study (``nascomp report``).

Nothing is imported here, so importing one module does not load the room.
"""
