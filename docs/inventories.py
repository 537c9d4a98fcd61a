"""Intersphinx inventories written from the installed packages, so that the docs build needs no network.

Sphinx's intersphinx extension normally downloads each project's ``objects.inv``. Here the
inventories of Python, NumPy, pandas, Brian2 and matplotlib are written from the names the installed
packages export, each pointing at the page of the project's own site that documents it.
"""
import importlib
import inspect
import zlib

#: project -> (site, version module, [(module to list, page of a name relative to the site)]).
PROJECTS = {
    "python": ("https://docs.python.org/3/", None, [
        ("builtins", "library/functions.html#{name}"),
        ("pathlib", "library/pathlib.html#{qualified}"),
    ]),
    "numpy": ("https://numpy.org/doc/stable/", "numpy", [
        ("numpy", "reference/generated/{qualified}.html#{qualified}"),
        ("numpy.random", "reference/random/generated/{qualified}.html#{qualified}"),
    ]),
    "pandas": ("https://pandas.pydata.org/docs/", "pandas", [
        ("pandas", "reference/api/{qualified}.html#{qualified}"),
    ]),
    "brian2": ("https://brian2.readthedocs.io/en/stable/", "brian2", [
        ("brian2", "reference/{defined}.html#{defined}"),
    ]),
    "matplotlib": ("https://matplotlib.org/stable/", "matplotlib", [
        ("matplotlib.figure", "api/_as_gen/{qualified}.html#{qualified}"),
        ("matplotlib.axes", "api/_as_gen/{qualified}.html#{qualified}"),
    ]),
}


def _entries(module_name, page):
    """Yield ``(qualified name, role, uri)`` for the public classes and functions of a module."""
    module = importlib.import_module(module_name)
    for name in sorted(getattr(module, "__all__", None) or dir(module)):
        if name.startswith("_"):
            continue
        obj = getattr(module, name, None)
        if inspect.isclass(obj):
            role = "class"
        elif callable(obj):
            role = "function"
        else:
            continue
        qualified = f"{module_name}.{name}"
        defined = f"{getattr(obj, '__module__', module_name)}.{getattr(obj, '__qualname__', name)}"
        uri = page.format(name=name, qualified=qualified, defined=defined)
        yield qualified if module_name != "builtins" else name, role, uri


def write(folder):
    """Write one ``objects.inv`` per project into ``folder``.

    Parameters
    ----------
    folder : pathlib.Path
        Where to write (created if missing).

    Returns
    -------
    dict
        Sphinx's ``intersphinx_mapping``: project -> (site, local inventory path).
    """
    folder.mkdir(parents=True, exist_ok=True)
    mapping = {}
    for project, (site, version_module, modules) in PROJECTS.items():
        version = importlib.import_module(version_module).__version__ if version_module else "3"
        lines = []
        for module_name, page in modules:
            for name, role, uri in _entries(module_name, page):
                lines.append(f"{name} py:{role} 1 {uri} -")
        header = (f"# Sphinx inventory version 2\n# Project: {project}\n# Version: {version}\n"
                  "# The remainder of this file is compressed using zlib.\n").encode()
        path = folder / f"{project}.inv"
        path.write_bytes(header + zlib.compress("\n".join(lines).encode() + b"\n"))
        mapping[project] = (site, str(path))
    return mapping
