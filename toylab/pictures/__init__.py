"""Pictures of runs and games: panel data (panels), Plotly figures (plotly_figures, layered),
matplotlib figures and frames (mpl_figures, charts; gameviz draws with both), file output
(export) and animations (animation). May import toylab.engine,
toylab.measure and toylab.games."""
