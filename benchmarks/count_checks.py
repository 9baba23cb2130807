"""Count, from choosing a target to the first frame after Start, the target-parameter checks
(each family model's validation, and check_params calls) and the targets built, through the
dashboard's own callbacks as the page calls them (Flask test client): issue #30's figure.

    python benchmarks/count_checks.py
"""
import collections, sys, tempfile, time
import toylab
from toylab.engine import datasets, target_params
from dashboards import ids as I
from dashboards.app import create_app
from dashboards.client import TabClient

counts = collections.Counter()
for name, model in target_params.MODELS.items():
    orig = model.model_validate.__func__
    def counted(cls, *a, _orig=orig, **k):
        counts["checks"] += 1
        return _orig(cls, *a, **k)
    model.model_validate = classmethod(counted)
if hasattr(datasets, "build"):           # after: count the constructions (get() may return a kept one)
    orig_build = datasets.build
    def build(*a, **k):
        counts["targets"] += 1
        return orig_build(*a, **k)
    datasets.build = build
else:                                    # before: every get() built one
    orig_get = datasets.get
    def get(*a, **k):
        counts["targets"] += 1
        return orig_get(*a, **k)
    datasets.get = get
import dashboards.forms, dashboards.live, dashboards.pages.train, toylab.pictures.panels, toylab.engine.config  # noqa
orig_check = target_params.check_params
def check(*a, **k):
    counts["check_params"] += 1
    return orig_check(*a, **k)
for mod in list(sys.modules.values()):
    if getattr(mod, "check_params", None) is orig_check:
        mod.check_params = check

app = create_app(max_runs=1, root=tempfile.mkdtemp())
tab = TabClient.over_flask(app.server)
tab.open()
counts.clear()
# 1. choose grid25: the params field is filled, the preview and the canvas follow the new text
st, out = tab.call(I.FIELD.format("dataset_params"), I.FIELD.format("dataset"), **{f"{I.FIELD.format('dataset')}__value": "grid25"})
print("fill", st, counts)
tab.call(I.STATUS, I.FIELD.format("dataset_params"))
print("preview", counts)
try:
    tab.call(I.DRAW_CANVAS, I.FIELD.format("dataset_params"))
except KeyError:
    pass
print("canvas", counts)
st, out = tab.call(I.MESSAGE, I.START)
print("start", st, counts, out.get(I.MESSAGE))
live = app.sessions.get(tab.sid).live
for i in range(200):
    st, out = tab.call(I.STATUS, I.TICK)
    if live.trainer.step > 0 and out.get(I.STATUS) and "step" in str(out[I.STATUS]):
        break
    time.sleep(0.05)
print("first frame", counts, str(out.get(I.STATUS))[:80])
app.sessions.shutdown()
