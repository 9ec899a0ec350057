"""numvae.progress: the ETA arithmetic, whole lines in a log, in-place rewrites on a terminal, quiet.

A fake clock drives the time, so nothing here depends on how fast the machine is.
"""

import io

import pytest

from numvae.progress import Progress, format_seconds


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("seconds, text", [(0, "0:00"), (59.4, "0:59"), (61, "1:01"), (3599, "59:59"),
                                           (3600, "1:00:00"), (3725, "1:02:05"), (float("nan"), "?"),
                                           (float("inf"), "?")])
def test_format_seconds(seconds, text):
    assert format_seconds(seconds) == text


def test_eta_is_the_mean_rate_so_far():
    clock = Clock()
    p = Progress(10, file=io.StringIO(), clock=clock)
    assert p.eta() != p.eta()  # NaN before any unit is done
    clock.t += 4.0
    p.update(2)
    assert p.eta() == pytest.approx(4.0 / 2 * 8)  # 2 s a unit, 8 units left
    clock.t += 12.0
    p.update(10)
    assert p.eta() == 0.0


def test_log_gets_whole_lines_at_most_every_log_every_seconds():
    clock, log = Clock(), io.StringIO()
    p = Progress(100, "work", file=log, log_every=10.0, clock=clock)
    for i in range(1, 101):   # one unit a second
        clock.t += 1.0
        p.update(i, f"item {i}")
    p.line("finished", done=100)
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and log.getvalue().endswith("\n")
    # The first status at once, then one every 10 s of the 100, then the milestone.
    assert [ln.split()[3] for ln in lines[:-1]] == [str(i) for i in range(1, 101, 10)]
    assert lines[1] == "work   11%  item 11  elapsed 0:11  ETA 1:29"   # 11 s for 11 units, 89 left
    assert lines[-1] == "work  100%  finished  elapsed 1:40  ETA 0:00"


def _screen(text):
    """What a terminal shows after `text`: \\r returns to column 0, characters overwrite, \\n ends a row."""
    rows, row, col = [], [], 0
    for ch in text:
        if ch == "\r":
            col = 0
        elif ch == "\n":
            rows.append("".join(row).rstrip())
            row, col = [], 0
        else:
            row[col:col + 1] = [ch]
            col += 1
    return rows + ["".join(row).rstrip()]


def test_terminal_status_is_rewritten_in_place_and_milestones_end_the_line():
    clock, term = Clock(), Terminal()
    p = Progress(4, "t", file=term, clock=clock)
    p.update(1, "a much longer status")
    clock.t += 0.1
    p.update(2, "skipped")            # within 0.2 s of the last rewrite
    clock.t += 0.2
    p.update(3, "short")
    assert _screen(term.getvalue()) == ["t   75%  short  elapsed 0:00  ETA 0:00"]  # no tail of the longer one
    p.line("done", done=4)
    p.close()                         # nothing open: no extra newline
    assert "skipped" not in term.getvalue() and term.getvalue().count("\n") == 1
    assert _screen(term.getvalue()) == ["t  100%  done  elapsed 0:00  ETA 0:00", ""]


def test_close_ends_an_open_status_line_and_quiet_prints_nothing():
    term = Terminal()
    p = Progress(3, file=term, clock=Clock())
    p.update(1, "working")
    p.close()
    assert term.getvalue().endswith("\n") and term.getvalue().count("\n") == 1
    silent = io.StringIO()
    q = Progress(3, file=silent, quiet=True, clock=Clock())
    q.update(1)
    q.line("x", done=2)
    q.close()
    assert silent.getvalue() == "" and q.done == 2


def test_unknown_total_shows_no_fraction_or_eta():
    log = io.StringIO()
    Progress(None, "download", file=log, clock=Clock()).update(5, "5 bytes")
    assert log.getvalue() == "download  5 bytes  elapsed 0:00\n"


@pytest.mark.parametrize("columns, cut", [(61, True), (80, True), (250, False)])
def test_a_terminal_status_fits_the_terminals_width_keeping_the_fraction_and_times(monkeypatch, columns, cut):
    # A status wider than the terminal wraps, and every \r then leaves its first rows behind.
    monkeypatch.setenv("COLUMNS", str(columns))
    clock, out = Clock(), Terminal()
    p = Progress(10, "train", file=out, clock=clock)
    clock.t += 3.0
    message = "epoch 3/10  batch 230/600  loss 123.45  beta 1.000  " + "x" * 100
    p.update(4, message)
    status = out.getvalue().split("\r")[-1]
    assert len(status) <= columns - 1
    assert status.startswith("train   40%  epoch 3/10") and status.endswith("elapsed 0:03  ETA 0:04")
    assert ("…" in status) == cut and (message in status) == (not cut)   # the message gives way, visibly
    p.line(message)                                        # a milestone is a whole line: never cut
    assert out.getvalue().endswith(message + "  elapsed 0:03  ETA 0:04\n")


def test_a_status_in_a_log_is_never_cut(monkeypatch):
    monkeypatch.setenv("COLUMNS", "20")
    out = io.StringIO()
    Progress(10, "train", file=out, clock=Clock()).update(1, "m" * 100)
    assert "m" * 100 in out.getvalue()
