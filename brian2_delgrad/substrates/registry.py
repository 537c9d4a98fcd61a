"""Substrates by name: the one place where ``'exact'``, ``'cython'`` ... become a substrate.

Model files, the CLI (``--substrate``) and studies all go through
:func:`make_substrate`; a substrate registered with
:func:`register_substrate` is available to all of them.
"""
import inspect
from dataclasses import dataclass, field

from ..utils.registry import Registry
from .base import Substrate
from .brian2 import TARGETS, Brian2Substrate
from .exact import ExactSubstrate

__all__ = ["SUBSTRATES", "SubstrateEntry", "register_substrate", "make_substrate"]

#: The options every substrate takes (:class:`~brian2_delgrad.substrates.base.Substrate`).
COMMON_OPTIONS = ("noise", "seed", "pattern_seed", "batch_size")


@dataclass(frozen=True)
class SubstrateEntry:
    """A registered substrate: its class and the constructor options its name fixes.

    Attributes
    ----------
    cls : type
        A subclass of :class:`~brian2_delgrad.substrates.base.Substrate`.
    fixed : dict
        Options the name implies (e.g. ``target='cython'``).
    description : str
    """

    cls: type
    fixed: dict = field(default_factory=dict)
    description: str = ""

    @property
    def options(self):
        """The constructor options a user may give besides the common ones (tuple of str)."""
        parameters = inspect.signature(self.cls).parameters
        return tuple(name for name in parameters if name not in COMMON_OPTIONS and name not in self.fixed)

    @property
    def unsupported_noise(self):
        """``{Noise field: reason}`` for the noise this substrate cannot apply."""
        return self.cls.unsupported_noise(**self.fixed)


def _check_entry(name, entry):
    """A registered substrate's contract: a Substrate subclass that takes the common options."""
    if not isinstance(entry, SubstrateEntry):
        raise ValueError(f"substrate {name!r}: register a SubstrateEntry, got {type(entry).__name__}")
    if not (isinstance(entry.cls, type) and issubclass(entry.cls, Substrate)):
        raise ValueError(f"substrate {name!r}: {entry.cls!r} is not a subclass of Substrate")
    parameters = inspect.signature(entry.cls).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    missing = [option for option in COMMON_OPTIONS if option not in parameters and not takes_any]
    if missing:
        raise ValueError(f"substrate {name!r}: {entry.cls.__name__} does not take {', '.join(missing)}")


#: Registered substrates by name.
SUBSTRATES = Registry("substrate", _check_entry)


def register_substrate(name, cls, description="", replace=False, **fixed):
    """Make a substrate available by ``name`` to model files, the CLI and studies.

    Parameters
    ----------
    name : str
        An identifier.
    cls : type
        A :class:`~brian2_delgrad.substrates.base.Substrate` subclass whose
        constructor takes at least ``noise``, ``seed``, ``pattern_seed`` and
        ``batch_size``.
    description : str
        One line for ``--help``.
    replace : bool
        Replace a substrate registered under ``name`` (otherwise that is an error).
    **fixed
        Constructor options the name implies.

    Examples
    --------
    >>> from brian2_delgrad.substrates import ExactSubstrate
    >>> register_substrate("exact_root_finding", ExactSubstrate, "root finding for every ratio", closed_form=False)
    >>> make_substrate("exact_root_finding").closed_form
    False
    >>> del SUBSTRATES["exact_root_finding"]
    """
    SUBSTRATES.register(name, SubstrateEntry(cls, dict(fixed), description), replace=replace)


def make_substrate(name, noise=None, seed=None, pattern_seed=None, batch_size=None, **options):
    """The substrate registered as ``name``, made with the common options and its own ``options``.

    Parameters
    ----------
    name : str
        A key of :data:`SUBSTRATES`: ``'exact'``, a Brian2 target
        (``'numpy'``, ``'cython'``, ``'cpp_standalone'``) or a name given to
        :func:`register_substrate`.
    noise : Noise, optional
        Noise it applies (default none); a kind it cannot apply is an error.
    seed : int, optional
        Seed of the noise.
    pattern_seed : int, optional
        Seed of the fixed threshold pattern alone (default ``seed``).
    batch_size : int, optional
        Samples per forward pass (each pass draws its own batch-to-batch
        noise); ``None``: a whole run is one pass.
    **options
        The substrate's own options (``SUBSTRATES[name].options``), e.g.
        ``dt`` or ``copies`` of Brian2, ``closed_form`` of the exact one.

    Returns
    -------
    Substrate
        An instance of the registered class, with the options its name fixes.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the registered ones) or an
        option the substrate does not take.

    Examples
    --------
    >>> make_substrate("exact", batch_size=100).batch_size
    100
    """
    entry = SUBSTRATES.get_entry(name)
    unknown = sorted(set(options) - set(entry.options))
    if unknown:
        raise ValueError(f"substrate {name!r} takes no {', '.join(unknown)} (its options: "
                         f"{', '.join(entry.options) or 'none'})")
    return entry.cls(noise=noise, seed=seed, pattern_seed=pattern_seed, batch_size=batch_size, **entry.fixed,
                     **options)


register_substrate("exact", ExactSubstrate, "the exact event-based substrate")
for _target in TARGETS:
    register_substrate(_target, Brian2Substrate, f"Brian2, {_target} code generation", target=_target)
