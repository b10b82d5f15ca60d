"""Finding notebooks by name: ``02-the-review``, ``02``, ``the-review`` or a path."""

from __future__ import annotations

import os
from pathlib import Path

from mmkit.errors import ParameterError


def notebook_dir() -> Path:
    """The folder of mmkit's notebooks: ``notebooks/`` beside the package (a source
    checkout or an editable install), else ``notebooks/`` in the current folder."""
    beside = Path(__file__).resolve().parents[2] / "notebooks"
    if beside.is_dir():
        return beside
    return Path.cwd() / "notebooks"


def available(folder: str | os.PathLike | None = None) -> list[Path]:
    """The numbered notebooks (``NN-name.ipynb``) in ``folder``, in order."""
    folder = Path(folder) if folder is not None else notebook_dir()
    return sorted(p for p in folder.glob("[0-9][0-9]-*.ipynb") if p.is_file())


def resolve(names: list[str] | tuple[str, ...] | None = None, folder: str | os.PathLike | None = None) -> list[Path]:
    """The notebook files ``names`` stand for; all numbered notebooks when empty.

    A name is a path to an ``.ipynb`` file, a notebook's full name (``02-the-review``),
    its number (``02`` or ``2``) or its name without the number (``the-review``).
    """
    folder = Path(folder) if folder is not None else notebook_dir()
    known = available(folder)
    if not names:
        if not known:
            raise ParameterError(f"notebook: no notebooks (NN-name.ipynb) in {folder}")
        return known
    out = []
    for name in names:
        out.append(_one(str(name), known, folder))
    return out


def _one(name: str, known: list[Path], folder: Path) -> Path:
    p = Path(name)
    if name.endswith(".ipynb") or os.sep in name or "/" in name:
        if p.is_file():
            return p.resolve()
        if (folder / p.name).is_file() and p.parent == Path("."):
            return (folder / p.name).resolve()
        raise ParameterError(f"notebook: {name} is not a file")
    key = name.lower()
    matches = [k for k in known if key in (k.stem.lower(), k.stem.split("-", 1)[1].lower())
               or (key.isdigit() and int(key) == int(k.stem[:2]))]
    if len(matches) == 1:
        return matches[0].resolve()
    names = ", ".join(k.stem for k in known) or "none"
    if not matches:
        raise ParameterError(f"notebook: unknown notebook {name!r}; notebooks are {names} (in {folder}), "
                             f"or give the path of an .ipynb file")
    raise ParameterError(f"notebook: {name!r} matches several notebooks ({', '.join(m.stem for m in matches)}); "
                         f"give the full name")
