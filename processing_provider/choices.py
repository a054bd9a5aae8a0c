"""Enum parameters that work in every QGIS tool on 3.22 and take option names from scripts.

QGIS 3.22's enum parameters with string values (``setUsesStaticStrings``) break its batch dialog and
modeler (blank check boxes) and its History / "Copy as Python" (the value is recorded as ``''``), so
every enum parameter here is a plain numbered one: QGIS stores, shows and replays option numbers
everywhere.  Each option also has a stable *name* (``bilinear``, ``cirrus``), which the algorithms accept
wherever a value comes from a script: ``qgis_process ... RESAMPLING=bilinear TARGET_BANDS=cirrus,red_edge_1``
or ``processing.run(..., {"TARGET_BANDS": ["cirrus"]})``.  :func:`resolve` turns names into numbers
before QGIS checks the values (``HLSAlgorithm.checkParameterValues``) and before the algorithm reads
them; the names live in the parameter's metadata (:data:`NAMES_KEY`), which QGIS copies with it.
Option numbers never change meaning: new options are appended.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, List, Mapping, Optional, Sequence, Tuple

from qgis.core import QgsProcessingParameterEnum

from ..core.errors import ConfigError

#: parameter metadata key holding the option names, in option order
NAMES_KEY = "hls_translate_option_names"


@dataclass(frozen=True)
class Choice:
    """One option: the name scripts type and the label dialogs show."""

    name: str
    label: str


def enum_parameter(name: str, description: str, choices: Sequence[Choice], default, multiple: bool = False,
                   optional: bool = False) -> QgsProcessingParameterEnum:
    """A numbered enum parameter over ``choices``; ``default``: an option name (a list for ``multiple``)."""
    names = [c.name for c in choices]
    if multiple:
        value = [names.index(d) for d in default]
    else:
        value = names.index(default) if default is not None else None
    param = QgsProcessingParameterEnum(name, description, options=[c.label for c in choices],
                                       allowMultiple=multiple, defaultValue=value, optional=optional)
    param.setMetadata({**param.metadata(), NAMES_KEY: names})
    return param


def option_names(param) -> Optional[List[str]]:
    """The option names of one of our enum parameters, or None for any other parameter."""
    if not isinstance(param, QgsProcessingParameterEnum):
        return None
    names = param.metadata().get(NAMES_KEY)
    return list(names) if names else None


def _index(param, names: Sequence[str], item) -> int:
    """One option given as a number, a number in text, an option name or its label (any letter case)."""
    if isinstance(item, bool):
        raise ConfigError(f"{param.name()}: {item!r} is not an option")
    if isinstance(item, int):
        if 0 <= item < len(names):
            return item
    else:
        text = str(item).strip()
        if text.lstrip("-").isdigit() and 0 <= int(text) < len(names):
            return int(text)
        low = text.lower()
        for i, (n, label) in enumerate(zip(names, param.options())):
            if low in (n.lower(), label.lower()):
                return i
    listed = ", ".join(f"{n} ({i})" for i, n in enumerate(names))
    raise ConfigError(f"{param.name()}: {item!r} is not one of the options: {listed}")


def resolve_value(param, value):
    """``value`` of enum parameter ``param`` with option names turned into option numbers (other values,
    such as model inputs or expressions, are returned as they are)."""
    names = option_names(param)
    if names is None or value is None or (isinstance(value, str) and not value.strip()):
        return value
    if isinstance(value, (int, str)) and not isinstance(value, bool):
        items: Iterable = str(value).split(",") if isinstance(value, str) and param.allowMultiple() else [value]
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        return value
    numbers = [_index(param, names, item) for item in items if not (isinstance(item, str) and not item.strip())]
    if param.allowMultiple():
        return numbers
    if len(numbers) != 1:
        raise ConfigError(f"{param.name()}: takes one option, got {value!r}")
    return numbers[0]


def resolve(definitions, parameters: Mapping) -> dict:
    """``parameters`` with every enum value given by option name turned into its number (raises
    :class:`ConfigError` naming the parameter and its options for a name that is none of them)."""
    out = dict(parameters)
    for param in definitions:
        if param.name() in out:
            out[param.name()] = resolve_value(param, out[param.name()])
    return out


def chosen(names: Sequence[str], numbers) -> Tuple[str, ...]:
    """The option names of option ``numbers`` (an int or a list, as ``parameterAsEnum(s)`` return)."""
    if isinstance(numbers, int):
        numbers = [numbers]
    return tuple(names[i] for i in numbers)
