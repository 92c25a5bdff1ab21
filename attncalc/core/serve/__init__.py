"""Serving as the engines do it (issue 23): each engine's KV-cache capacity rule, term by term
(``engines``), the KV layouts they store (``layouts``), what they measure at start-up (``startup``,
``calibration``), and a continuous-batching simulation over the time model's per-step costs (``sim``)."""
