"""`attncalc sweep`: every parallel layout of a model on a cluster, checked and ranked.

- ``space``: the layouts (tp, pp, dp, ep, cp, micro-batch, recomputation, sequence parallelism,
  virtual stages, ZeRO) and the divisibility rules each must meet (``core.memory.layout``'s).
- ``memory``: memory per GPU of a layout as closed forms in the layout variables, built from the
  same functions `fit` calls (``core.memory.layout.stage_params``, ``activations.kind_tensors``,
  ``training.model_state_bytes``, ``activations.in_flight``), each evaluated once per distinct value
  of the variables it depends on; equal to `fit`'s plan byte for byte (tests/test_sweep.py).
- ``timing``: THE one call into the time model (``core.time.step``) per layout.
- ``search``: enumerate, prune by memory, time what fits, rank, the frontier, the reasons others
  lose; ``--workers N`` splits the space over processes, the result independent of N.
- ``serving``: the serving sweep (tp, pp, ep, batch, context, weight and KV formats).
"""
