r"""Write the student version of the lessons: every "your turn" solution replaced by a stub.

Usage (from anywhere; the lessons are not in the wheel, so this runs from a
checkout)::

    python lessons/make_student_version.py DIR

Each lesson ``lessons/NN_*.py`` keeps the solution of its "your turn" cells
between the markers of nbgrader, the convention students and teachers know::

    # your turn: the KL of N(mu, diag exp(logvar)) to N(0, I), one number per row
    ### BEGIN SOLUTION
    ...the lesson's own code...
    ### END SOLUTION

In DIR the lines between the markers (the markers too) become::

    # your code here
    raise YourTurn("your turn: <the comment line above the marker> (lesson NN)")

indented as the markers are. The comment that says what to write must be the
line just above ``### BEGIN SOLUTION``; a block without one, or markers that do
not pair up, stop the script with the file and line, and nothing is written.
A lesson without any block (one being written) is copied unchanged, with a note.

DIR also gets ``_lesson.py`` (which defines ``YourTurn`` and grades the answers),
this folder's README.md and the worked solutions of the exercises
(``solutions_*.py``): they answer the *Exercises* at the end of each lesson,
not the "your turn" cells, and a student alone at home wants them at hand.
The files are found by pattern (``[0-9][0-9]_*.py``), so a lesson added later
is included without editing this script. Each file is written atomically.
"""

import argparse
import re
import sys
from pathlib import Path

from numvae.io import atomic_open

HERE = Path(__file__).resolve().parent
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
TASK = re.compile(r"^\s*#\s*your turn:\s*(?P<what>.+?)\s*$", re.IGNORECASE)
COPIED = ("_lesson.py", "README.md", "solutions_*.py")   # what the lessons need beside them, as they are


def lessons(folder=HERE):
    """The lesson files of `folder`, in order: ``NN_*.py``."""
    return sorted(folder.glob("[0-9][0-9]_*.py"))


def student_text(text, name="lesson"):
    """`text` of a lesson with each solution block replaced by a ``raise YourTurn(...)`` stub.

    Returns ``(new_text, n_blocks)``. Raises ValueError naming `name` and the line
    for a marker without its pair or a block without a ``# your turn:`` comment
    just above it.
    """
    lesson = re.match(r"(\d\d)_", Path(name).name)
    where = f" — lesson {lesson.group(1)}" if lesson else ""
    out, lines, i, blocks = [], text.splitlines(keepends=True), 0, 0
    while i < len(lines):
        line = lines[i]
        if line.strip() == END:
            raise ValueError(f"{name}, line {i + 1}: {END!r} without a {BEGIN!r} before it")
        if line.strip() != BEGIN:
            out.append(line)
            i += 1
            continue
        task = TASK.match(lines[i - 1]) if i else None
        if task is None:
            raise ValueError(f"{name}, line {i + 1}: {BEGIN!r} must follow a '# your turn: <what to write>' "
                             f"comment line; got {lines[i - 1].strip() if i else 'the start of the file'!r}")
        try:
            j = next(k for k in range(i + 1, len(lines)) if lines[k].strip() in (BEGIN, END))
        except StopIteration:
            raise ValueError(f"{name}, line {i + 1}: {BEGIN!r} without an {END!r} after it") from None
        if lines[j].strip() != END:
            raise ValueError(f"{name}, line {j + 1}: {BEGIN!r} again before the {END!r} of line {i + 1}")
        indent = line[:len(line) - len(line.lstrip())]
        message = f"your turn: {task.group('what')}{where}"
        out.append(f"{indent}# your code here\n")
        out.append(f"{indent}raise YourTurn({message!r})\n")
        blocks += 1
        i = j + 1
    return "".join(out), blocks


def write_student_version(dest, folder=HERE):
    """Write the student version of every lesson of `folder` into `dest`; return the files written."""
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise ValueError(f"DIR must be a folder; {str(dest)!r} is an existing file")
    if dest.resolve() == folder.resolve():
        raise ValueError(f"DIR must not be the lessons' own folder {str(folder)!r}: the solutions would be lost")
    texts = {}
    for path in lessons(folder):
        text, blocks = student_text(path.read_text(encoding="utf-8"), path.name)
        if blocks == 0:   # copied as it is: a lesson being written may not have its cell yet
            print(f"note: {path.name} has no your-turn cell ('{BEGIN}'); copied unchanged", file=sys.stderr)
        texts[path.name] = text
    for pattern in COPIED:                      # everything is read and checked before anything is written
        for path in sorted(folder.glob(pattern)):
            texts[path.name] = path.read_text(encoding="utf-8")
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for fname, text in texts.items():
        with atomic_open(dest / fname, "wb") as f:
            f.write(text.encode("utf-8"))
        written.append(dest / fname)
    return written


def main(argv=None):
    """Command line: ``make_student_version.py DIR``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", help="folder to write the student version into (created if missing)")
    args = parser.parse_args(argv)
    try:
        written = write_student_version(args.dir)
    except ValueError as err:
        parser.error(str(err))
    stubs = sum(f.read_text(encoding="utf-8").count("raise YourTurn(") for f in written)
    print(f"wrote {len(written)} files to {args.dir}: {len(lessons())} lessons with {stubs} your-turn stubs")
    print(f"start with: python {Path(args.dir) / lessons()[0].name} --fast")


if __name__ == "__main__":
    main()
