"""Errors that name a parameter, so each shell can say which of *its* controls that is.

The core never names a command-line flag or a widget label: a message names the parameter
in backticks, ``"pixel size is missing: give `pixel_size_A` in Å"``, and the exception
lists the parameters it names (:attr:`ParameterError.params`). The CLI shows
``--pixel-size`` there, napari the widget's label (:func:`in_terms_of`). Pure Python,
importable from every floor.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["ParameterError", "in_terms_of"]


class ParameterError(ValueError):
    """A missing or invalid value of one or more named parameters.

    Parameters
    ----------
    message : str
        One line naming each parameter in backticks as the Python API spells it (`` `device` ``).
    *params : str
        The parameter names the message mentions.
    """

    def __init__(self, message: str, *params: str):
        super().__init__(message)
        self.params = tuple(params)


def in_terms_of(err: BaseException, names: Mapping[str, str], message: str | None = None) -> str:
    """``err``'s message with each parameter it names spelled as a shell spells it.

    Parameters
    ----------
    err : BaseException
        The exception; only a :class:`ParameterError` (or anything with a ``params`` tuple)
        has its names replaced.
    names : mapping of str to str
        Parameter name → how the shell calls it (``{"pixel_size_A": "--pixel-size"}``); the
        name is replaced where the message writes it in backticks.
    message : str, optional
        The text to rewrite (default: ``str(err)``).

    Returns
    -------
    str
    """
    text = str(err) if message is None else message
    for p in getattr(err, "params", ()) or ():
        if p in names:
            text = text.replace(f"`{p}`", names[p])
    return text
