r"""Progress lines with an ETA that read well on a terminal and in a log.

Every long command (``numvae compare``, ``train``, ``bench``, ``data fetch``)
reports through one :class:`Progress`. Two kinds of output:

* a **status** (:meth:`Progress.update`), the fine-grained "batch 230/600" kind.
  On a terminal it is rewritten in place with ``\r`` a few times a second; in a
  log (a pipe, a file, CI) it is a whole line at most every ``log_every``
  seconds, so a log holds no ``\r`` fragments and does not fill up;
* a **milestone** (:meth:`Progress.line`), an epoch or a fitted model: always a
  whole line.

Both end with the fraction done, the time elapsed and the ETA, estimated from
the mean rate so far: :math:`\text{ETA} = t\,(n_{total} - n)/n` after
:math:`n` of :math:`n_{total}` units in :math:`t` seconds. Output goes to
standard error, so standard output keeps only the results; ``quiet=True``
(``--quiet`` on the command line) prints nothing.
"""

import math
import os
import sys
import time

__all__ = ["Progress", "format_seconds"]

# Seconds between two rewrites of a terminal status line: fast enough to look
# live, slow enough to cost nothing.
TTY_EVERY = 0.2
# Seconds between two status lines in a log.
LOG_EVERY = 10.0


def format_seconds(seconds):
    """``m:ss`` below an hour, ``h:mm:ss`` above; ``?`` for an unknown (NaN or infinite) time."""
    if not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def _isatty(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _columns(stream):
    """Columns of the terminal `stream` shows on: ``$COLUMNS`` if set, else the terminal's own, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(stream.fileno()).columns
        except (AttributeError, ValueError, OSError):   # no file descriptor, or not a terminal
            columns = 80
    return columns


def _fit(parts, message_index, width):
    """Join `parts` with two spaces in at most `width` characters, shortening the message part first.

    The label, the fraction and the times are what a glance needs, so the
    message gives way (cut, ending in "…"); only if they alone are too long is
    the whole line cut.
    """
    text = "  ".join(p for p in parts if p)
    if len(text) <= width:
        return text
    message = parts[message_index]
    room = len(message) - (len(text) - width)
    parts = list(parts)
    parts[message_index] = message[:room - 1] + "…" if room > 1 else ""
    return "  ".join(p for p in parts if p)[:width]


class Progress:
    """Progress through `total` units of work (batches, bytes, fitted models).

    Parameters
    ----------
    total : int or float > 0, or None
        Units in the whole task; None if unknown (then no fraction or ETA is shown).
    label : str
        Prefix of every line, e.g. ``"train"``.
    file : text stream, optional
        Where to write; standard error by default (looked up when the object
        is made, so pytest's capture sees it).
    quiet : bool
        Print nothing.
    log_every : float
        Seconds between two status lines when `file` is not a terminal.
    clock : callable
        Returns the time in seconds; ``time.perf_counter`` unless a test
        needs a clock it controls.
    """

    def __init__(self, total, label="", file=None, quiet=False, log_every=LOG_EVERY, clock=time.perf_counter):
        self.total = total
        self.label = label
        self.file = sys.stderr if file is None else file
        self.quiet = quiet
        self.tty = _isatty(self.file)
        self.every = TTY_EVERY if self.tty else log_every
        self.clock = clock
        self.started = clock()
        self.done = 0
        self._last = -math.inf   # when the last status or line was printed
        self._width = 0          # length of the status line now on a terminal, 0 if none

    def eta(self):
        """Seconds left at the mean rate so far (NaN before the first unit is done)."""
        if self.done <= 0 or self.total is None:
            return math.nan
        return (self.clock() - self.started) * max(self.total - self.done, 0) / self.done

    def update(self, done, message=""):
        """Record that `done` units are finished and show `message` as the status, if it is time to."""
        self.done = done
        now = self.clock()
        if self.quiet or now - self._last < self.every:
            return
        self._last = now
        # A status rewritten in place must fit on one terminal row: a wrapped one leaves
        # its first rows behind at every \r. (The last column stays free: some terminals
        # wrap on writing it.)
        width = _columns(self.file) - 1 if self.tty else None
        self._write(self._format(message, width), end_line=not self.tty)

    def line(self, message, done=None):
        """Print `message` as a whole line (a milestone), after setting the units done to `done` if given."""
        if done is not None:
            self.done = done
        if self.quiet:
            return
        self._last = self.clock()
        self._write(self._format(message), end_line=True)

    def close(self):
        """End a status line left open on a terminal, so what follows starts on a new line."""
        if self._width:
            print(file=self.file, flush=True)
            self._width = 0

    def _format(self, message, width=None):
        """The line for `message`; at most `width` characters if given (a status on a terminal)."""
        parts = [self.label, message, f"elapsed {format_seconds(self.clock() - self.started)}"]
        if self.total is not None:
            parts[1:1] = [f"{100 * min(self.done / self.total, 1.0):3.0f}%"]
            parts.append(f"ETA {format_seconds(self.eta())}")
        if width is None:
            return "  ".join(p for p in parts if p)
        return _fit(parts, 2 if self.total is not None else 1, width)

    def _write(self, text, end_line):
        if self.tty:
            # Pad with spaces so no tail of a longer status survives the \r.
            print("\r" + text.ljust(self._width), end="\n" if end_line else "", file=self.file, flush=True)
            self._width = 0 if end_line else len(text)
        else:
            print(text, file=self.file, flush=True)
