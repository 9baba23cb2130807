"""Component ids, in one place so that layouts, callbacks and browser tests agree."""

SESSION = "session-id"            # dcc.Store: this tab's session id
SESSION_TEXT = "session-id-text"  # the same id, in the page for assets/session.js
BUSY = "lab-busy"                 # the page shown instead of the lab when the host is at its budget
TABS = "tabs"
ROOT = "lab-root"                 # the page around everything: takes the theme's colours
HEARTBEAT = "heartbeat"           # dcc.Interval on the page itself (every tab): keeps the session alive
SESSION_STATE = "session-state"   # says plainly when this tab's session has ended

# train tab: one input and one error line per config field
FIELD = "f-{}"
ERROR = "e-{}"
START, PAUSE, STEP_D, STEP_G, STEP_ROUND, RESET = "btn-start", "btn-pause", "btn-step-d", "btn-step-g", \
    "btn-step-round", "btn-reset"
PRESET_BUTTON = "preset-{}"       # one button per failure-mode preset (toylab.experiments.presets), "" = defaults
PRESET = "preset"                 # dcc.Store: the preset the form was filled from (its name only)
PRESET_MSG = "preset-message"
MESSAGE = "train-message"
TOAST = "train-toast"              # live edits' confirmations: in view wherever the sidebar is scrolled
SPEED, SPEED_NOTE = "speed", "speed-note"   # rounds per second at most (0: full speed), and what it means
STATUS = "train-status"           # "step 1,250 / 5,000 · running"
VERSION = "train-version"         # dcc.Store bumped by every control action
DRAWN = "train-drawn"             # dcc.Store: what this page has drawn (written only by a reply it received)
TICK = "train-tick"               # dcc.Interval polling the live run (one poll in flight: max_intervals)
TICK_SEEN = "train-tick-seen"     # the poll count at the last heartbeat (re-arms a timer a lost reply left stopped)
TICK_SENT = "train-tick-sent"     # dcc.Store: when the last poll left ({tick, at}) and the last poll's round trip (rtt)
PACE = "train-pace"               # dcc.Store: each reply's pacing of the next poll (pages.train.update)
PLAY, PLAY_TICK = "btn-play", "play-tick"
SLIDER = "time-slider"
SHOWN = "shown-panels"
THEME = "theme"
PRESENT = "btn-present"           # the presentation view's toggle
PRESENTING = "presenting"         # dcc.Store: True while the presentation view is on
HEADLINE = "headline"             # the presentation view's status line: step, JS, modes, verdict
PANEL_GRID = "panel-grid"         # the panels' container (its class says how many are presented)
GRAPH = "graph-{}"                # one dcc.Graph per panel
VIEW = "view-mode"                # layered (one map with layers, the curves beside it) / grid (the nine panels)
LAYERS = "layers"                 # the layered view's layers shown (toylab.pictures.layered.LAYERS)
LIVE = "btn-live"                 # "● live": the view held at a scrubbed snapshot follows the run again
PANEL_BOX = "box-{}"
UPLOAD, UPLOAD_MSG = "upload", "upload-message"
DRAW_CANVAS, DRAW_CLEAR, DRAW_USE, DRAW_MSG = "draw-canvas", "btn-draw-clear", "btn-draw-use", "draw-message"
DRAW_MODE = "draw-mode"           # click: add a mode / draw: drag a curve
EXPORT_FORMAT, EXPORT, EXPORT_MSG, DOWNLOAD = "export-format", "btn-export", "export-message", "download"
EXPORT_SIZE, EXPORT_THEME, EXPORT_FPS, EXPORT_PANELS = "export-size", "export-theme", "export-fps", "export-panels"
EXPORT_TICK = "export-tick"       # dcc.Interval: polls an export drawing on its thread until its file is sent

# xy tab
XY_METHODS, XY_GAME, XY_LR, XY_LR_Y, XY_BETA, XY_GAMMA, XY_X0, XY_Y0, XY_STEPS = (
    "xy-methods", "xy-game", "xy-lr", "xy-lr-y", "xy-beta", "xy-gamma", "xy-x0", "xy-y0", "xy-steps")
XY_RUN, XY_ORBIT, XY_DIST, XY_RADII, XY_MESSAGE = "xy-run", "xy-orbit", "xy-distance", "xy-radii", "xy-message"

# compare tab
CMP_RUNS, CMP_REFRESH, CMP_GRID, CMP_CURVES, CMP_MESSAGE = "cmp-runs", "cmp-refresh", "cmp-grid", "cmp-curves", \
    "cmp-message"
