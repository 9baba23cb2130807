"""Pictures of runs and games: panel data (panels), matplotlib figures and frames (figures,
viz, gameviz), file output (export) and animations (animation). May import toylab.engine,
toylab.measure and toylab.games."""
