"""What every grid entry shares: a frozen dataclass that is a table row, with a stable id.

``StoredConfig`` is the base of ``nbsupport.runs.RunConfig`` (a training run) and
``nbsupport.range_tests.RangeTestConfig`` (an LR range test); the helpers check their fields.
"""

import dataclasses
import hashlib
import json
import numbers

from .store import STORE_SCHEMA


def _allowed(name, value, allowed):
    return ValueError(f"{name}={value!r} is not allowed; use one of {tuple(allowed)}")


def is_int(value):
    """An integer (NumPy's too), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value):
    """A real number (NumPy's too), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


class StoredConfig:
    """What a frozen dataclass needs to be an entry of a grid: its field names, itself from a table row, its id.

    A row holds strings (as read from the CSV) or numbers (as loaded by pandas); ``from_record`` converts
    the fields named in ``INT_FIELDS`` and ``FLOAT_FIELDS`` and hands the rest to the constructor as they
    are, whose own checks convert or refuse them. Extra columns are ignored; a field the row lacks (a
    field added later) takes its default.

    ``run_id`` hashes the fields, the store's schema version and ``id_extras()`` (what else the entry's
    arithmetic depends on). A field listed in ``ID_DEFAULTS`` is left out of the hash while it holds that
    value: a field added later with a default leaves every existing id unchanged.
    """

    INT_FIELDS: tuple = ()
    FLOAT_FIELDS: tuple = ()
    ID_DEFAULTS: dict = {}
    KIND: str = ""

    def id_extras(self) -> dict:
        return {}

    def id_payload(self) -> dict:
        fields = {k: v for k, v in dataclasses.asdict(self).items()
                  if not (k in self.ID_DEFAULTS and v == self.ID_DEFAULTS[k])}
        if self.KIND:
            fields["kind"] = self.KIND
        return {**fields, **self.id_extras(), "store_schema": STORE_SCHEMA}

    @property
    def run_id(self) -> str:
        """A short hash of what makes the entry: the same entry has the same id in every table and session."""
        text = json.dumps(self.id_payload(), sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:12]

    @classmethod
    def fields(cls):
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_record(cls, record):
        kwargs = {}
        for name in cls.fields():
            if name not in record or (name in cls.ID_DEFAULTS and record[name] in ("", None)):
                continue  # a field added after the row was stored: its default
            value = record[name]
            if name in cls.INT_FIELDS:
                value = int(value)
            elif name in cls.FLOAT_FIELDS:
                value = float(value)
            kwargs[name] = value
        return cls(**kwargs)
