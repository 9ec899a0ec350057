"""The training record: one row of numbers per epoch, and its files (CSV for a spreadsheet, JSON to read back)."""

import csv
import io as _io
import json

from numvae.checks import check_input_file
from numvae.io import write_text


class History:
    """Per-epoch training record: a dict of equal-length lists, one per field.

    Fields (ELBOs, rec and KL are per datapoint, in nats; ELBO = rec - KL):

    ``epoch``           1, 2, ...
    ``beta``            KL weight at the epoch's last step; ``None`` for an
                        objective without one (IWAE, the autoencoder's)
    ``train_loss``      mean of the minimised (annealed, free-bits) batch losses
    ``train_elbo``, ``train_rec``, ``train_kl``
                        means over the epoch's datapoints of the true ELBO terms
                        (parameters move during the epoch, as usual)
    ``valid_elbo``, ``valid_rec``, ``valid_kl``
                        means on the validation set at the epoch's end, with the
                        same noise every epoch; ``None`` without a validation set
    ``active_units``    number of latent units with Var_x E_q[z_u|x] > 0.01
    ``seconds``         wall time of the whole epoch (training and evaluation)
    ``samples_per_s``   training throughput: datapoints / time in training steps

    ``history["valid_elbo"]`` is a list; ``len(history)`` is the number of epochs.
    """

    FIELDS = ("epoch", "beta", "train_loss", "train_elbo", "train_rec", "train_kl",
              "valid_elbo", "valid_rec", "valid_kl", "active_units", "seconds", "samples_per_s")

    def __init__(self, columns=None):
        self.columns = {f: [] for f in self.FIELDS}
        if columns is not None:
            for f in self.FIELDS:
                self.columns[f] = list(columns[f])

    def append(self, row):
        """Add one epoch: `row` is a dict with every field of ``FIELDS`` (a ValueError names those missing)."""
        missing = set(self.FIELDS) - set(row)
        if missing:
            raise ValueError(f"row is missing fields {sorted(missing)}")
        for f in self.FIELDS:
            self.columns[f].append(row[f])

    def __getitem__(self, field):
        return self.columns[field]

    def __len__(self):
        return len(self.columns["epoch"])

    @property
    def last(self):
        """The last epoch's row as a dict (``{}`` before the first epoch)."""
        return {f: self.columns[f][-1] for f in self.FIELDS} if len(self) else {}

    def rows(self):
        """Rows as dicts, first epoch first."""
        return [{f: self.columns[f][i] for f in self.FIELDS} for i in range(len(self))]

    def to_dict(self):
        """``{field: [per-epoch values]}``, a copy (what :meth:`to_json` writes)."""
        return {f: list(v) for f, v in self.columns.items()}

    def to_csv(self, path):
        """Write a header line and one line per epoch, atomically. Missing values are empty cells."""
        buf = _io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(self.FIELDS)
        for row in self.rows():
            writer.writerow(["" if row[f] is None else repr(row[f]) for f in self.FIELDS])
        write_text(path, buf.getvalue())

    def to_json(self, path):
        """Write ``{field: [per-epoch values]}`` atomically; missing values are ``null``."""
        write_text(path, json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def from_json(cls, path):
        """Read a history written by :meth:`to_json`.

        Raises ``FileNotFoundError`` or ``IsADirectoryError`` for a path that
        is not a file, and ``ValueError`` naming the file if it is not JSON
        (e.g. truncated), not an object of lists, lacks a field, or its
        columns have different lengths (ragged).
        """
        path = check_input_file(path, "path", "history file", "a .json file")
        try:
            columns = json.loads(path.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"history file {path} is not valid JSON, perhaps truncated ({exc})") from None
        if not isinstance(columns, dict):
            raise ValueError(f"history file {path} must hold a JSON object of per-field lists; "
                             f"got {type(columns).__name__}")
        missing = set(cls.FIELDS) - set(columns)
        if missing:
            raise ValueError(f"history file {path} lacks fields {sorted(missing)}")
        lengths = {f: len(columns[f]) if isinstance(columns[f], list) else None for f in cls.FIELDS}
        if None in lengths.values() or len(set(lengths.values())) > 1:
            raise ValueError(f"history file {path} must hold one list per field, all of the same length; "
                             f"got lengths {lengths}")
        return cls(columns)

    def __repr__(self):
        return f"History({len(self)} epochs)"
