"""How trials run: the trial loop, the scheduler's decisions and clock, lineages, saved states, the run's outcome.

- :mod:`~nascomp.search.trials.trial_loop`: one trial after another (claim, draw, gate, settle, train, record);
- :mod:`~nascomp.search.trials.loop_claims`: which trial runs next (claims, promotions), the scheduler's calls
  applied;
- :mod:`~nascomp.search.trials.loop_inputs`: what the loop is given (its deadline, its training) and returns;
- :mod:`~nascomp.search.trials.schedule`: successive halving with pauses (ASHA), pure decisions on a snapshot;
- :mod:`~nascomp.search.trials.clock`: the scheduler's expected seconds per rung, from this run's measurements;
- :mod:`~nascomp.search.trials.lineages`: a study's trials folded into one candidate per architecture;
- :mod:`~nascomp.search.trials.saved_states`: paused trials' training states in Optuna's artifact store;
- :mod:`~nascomp.search.trials.outcome`: how a search ended (every counted trial failed, or not);
- :mod:`~nascomp.search.trials.record`: every attribute nascomp writes on an Optuna trial, by name.

Nothing is imported here, so importing one module does not load the room.
"""
