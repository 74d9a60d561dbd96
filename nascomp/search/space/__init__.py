"""What a search tries: the space, its named points, the budget sampler, the census, and the screens and gates.

- :mod:`~nascomp.search.space.search_space`: a search space file (dimensions, named points, architecture) and
  :func:`~nascomp.search.space.search_space.load_space`;
- :mod:`~nascomp.search.space.points`: ``SPACE[:POINT]`` names as nets (for :func:`nascomp.scale`);
- :mod:`~nascomp.search.space.sampler`: the budget sampler (over-budget and evaluated draws thrown away);
- :mod:`~nascomp.search.space.census`: what the space holds under the budget, before any training;
- :mod:`~nascomp.search.space.proxy_resolution`: whether a point can be built at the proxy image size;
- :mod:`~nascomp.search.space.hardware_gate`: latency and memory budgets, screened and gated.

Nothing is imported here, so importing one module does not load the room (the public names are re-exported by
:mod:`nascomp.search`).
"""
