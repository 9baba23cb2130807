"""What the lab measures, as pure functions of samples and a target: kernel density estimates
(kde), the JS divergence and D's bound (metrics), mode coverage (modes) and the verdicts on a
run's course (outcomes). Imports nothing else of toylab: a target is anything with `sample`,
`log_prob`, `bounds` (and for mixtures `modes`, `weights`, `stds`); a run anything with
`history`, `snapshots`, `target`, `sample`."""
