"""A worker: reliable queue, deterministic expansion, backends, pacing, stats, its run."""
