"""What every tab's server side shares. A tab's callbacks are the methods of its Page (one per
app: it holds the SessionManager and the runs folder), each declared where it is written with
`callback(...)` - the same arguments as Dash's app.callback - and registered by Page.register;
`with_session` hands a callback the tab's session instead of its id."""

from __future__ import annotations

import functools

from ..sessions import SessionError, client


def callback(*dependencies, **options):
    """Declares a Page method as a Dash callback with these Outputs, Inputs and States (registered
    on an app by Page.register)."""
    def mark(fn):
        fn.dash_callback = (dependencies, options)
        return fn
    return mark


def with_session(reply):
    """For a callback whose last argument is the tab's session id (State(I.SESSION, "data")
    declared last): it is called with the session in that id's place, first after self
    (manager.get, which is also the heartbeat that keeps a session); a gone, unknown or foreign
    id answers `reply(message)` - the callback's own outputs saying the session has ended."""
    def wrap(fn):
        @functools.wraps(fn)
        def call(self, *args):
            try:
                session = self.manager.get(args[-1] if args else None, client())
            except SessionError as err:
                return reply(str(err))
            return fn(self, session, *args[:-1])
        return call
    return wrap


class Page:
    """A tab's server side on one app: `manager` holds the sessions, `runs_dir` the host's saved
    runs. Subclasses declare their callbacks as methods (`callback`) and their browser-side ones
    in CLIENTSIDE: (javascript, *dependencies, options)."""

    CLIENTSIDE: tuple = ()

    def __init__(self, manager, runs_dir="runs"):
        self.manager, self.runs_dir = manager, runs_dir

    def register(self, app) -> "Page":
        for cls in reversed(type(self).__mro__):          # in the order they are written
            for name, fn in vars(cls).items():
                declared = getattr(fn, "dash_callback", None)
                if declared is not None:
                    dependencies, options = declared
                    app.callback(*dependencies, **options)(getattr(self, name))
        for js, *dependencies, options in self.CLIENTSIDE:
            app.clientside_callback(js, *dependencies, **options)
        return self
