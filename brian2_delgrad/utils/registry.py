"""Registries: the named entries of one kind (substrates, losses, data sets, profiles, placements, delay bounds).

Every kind has one :class:`Registry`. A name is an identifier; registering a
name that is taken is an error unless ``replace=True`` is asked for; every
entry is checked by the kind's own check when it is registered; an unknown
name is a one-line error that lists the registered ones.
"""
from collections.abc import MutableMapping

__all__ = ["Registry"]


class Registry(MutableMapping):
    """Named entries of one kind, in the order they were registered.

    Parameters
    ----------
    kind : str
        What the entries are, for messages: ``'substrate'``, ``'loss'``, ...
    check : callable or type, optional
        ``check(name, entry)`` raises ``ValueError`` for an entry that does
        not keep the kind's contract; called on every registration. A class
        instead: entries are its instances, each registered under its own
        ``name`` (:meth:`add`).

    Examples
    --------
    >>> colours = Registry("colour")
    >>> colours.register("red", "#f00")
    '#f00'
    >>> colours.register("red", "#e00")
    Traceback (most recent call last):
        ...
    ValueError: colour 'red' is registered already; pass replace=True to replace it
    >>> colours.get_entry("blue")
    Traceback (most recent call last):
        ...
    ValueError: colour must be one of 'red', got 'blue'
    """

    def __init__(self, kind, check=None):
        self.kind = kind
        self._check = self._named(check) if isinstance(check, type) else check
        self._entries = {}

    def _named(self, cls):
        """The check of a registry of ``cls`` instances registered under their own names."""
        def check(name, entry):
            if not isinstance(entry, cls):
                raise ValueError(f"{self.kind} {name!r} must be a {cls.__name__}, got {type(entry).__name__}")
            if entry.name != name:
                raise ValueError(f"{self.kind} {entry.name!r} registered as {name!r}: register it under its own name")
        return check

    def add(self, entry, replace=False):
        """Register ``entry`` under its own ``entry.name`` (see :meth:`register`) and return it."""
        if not isinstance(getattr(entry, "name", None), str):
            raise ValueError(f"{self.kind} must have a name, got {entry!r}")
        return self.register(entry.name, entry, replace)

    def register(self, name, entry, replace=False):
        """Register ``entry`` as ``name`` and return it.

        Parameters
        ----------
        name : str
            An identifier such as ``'my_chip'``.
        entry : object
            Checked by the registry's check.
        replace : bool
            Replace an entry of the same name (otherwise that is an error).
        """
        if name in self._entries and not replace:
            raise ValueError(f"{self.kind} {name!r} is registered already; pass replace=True to replace it")
        self[name] = entry
        return entry

    def get_entry(self, name):
        """The entry registered as ``name``; a ``ValueError`` listing the registered names otherwise."""
        if name not in self._entries:
            raise ValueError(f"{self.kind} must be one of {self.listing()}, got {name!r}")
        return self._entries[name]

    def listing(self):
        """The registered names for messages: ``"'exact', 'numpy'"``."""
        return ", ".join(map(repr, self._entries))

    def __getitem__(self, name):
        return self._entries[name]

    def __setitem__(self, name, entry):
        """Register ``entry`` as ``name``, replacing one of that name (as ``register(..., replace=True)``)."""
        if not (isinstance(name, str) and name.isidentifier()):
            raise ValueError(f"{self.kind} name must be an identifier like 'my_{self.kind.replace(' ', '_')}', "
                             f"got {name!r}")
        if self._check is not None:
            self._check(name, entry)
        self._entries[name] = entry

    def __delitem__(self, name):
        del self._entries[name]

    def __iter__(self):
        return iter(self._entries)

    def __len__(self):
        return len(self._entries)

    def __repr__(self):
        return f"Registry({self.kind!r}: {self.listing()})"
