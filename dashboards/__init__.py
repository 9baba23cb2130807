"""The toylab dashboard (Dash): train live, scrub through time, compare runs, the xy game.

    python -m dashboards [--host 127.0.0.1] [--port 8050] [--runs-dir runs] [--debug]

Every picture and number comes from the `toylab` engine; this package only lays out
controls and wires them to it.
"""
