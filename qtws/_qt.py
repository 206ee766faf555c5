"""The Qt binding: the only qtws module that imports PyQt6 or PySide6.

The binding is chosen once, at first import, as pytest-qt and qtpy choose it:

1. the ``QT_API`` environment variable, ``pyqt6`` or ``pyside6`` (case-insensitive);
2. else the binding the application already imported (its ``QtCore`` is in ``sys.modules``);
3. else PyQt6 if it is installed, else PySide6.

Everything else in qtws imports Qt names from here: ``QObject``, ``Signal``/``Slot`` (PyQt6's
``pyqtSignal``/``pyqtSlot``), ``QTimer``... and :func:`is_deleted` (``sip.isdeleted`` or
``not shiboken6.isValid``: whether the C++ object behind a Python wrapper is gone).  Without
any binding the import fails with an :class:`ImportError` naming both packaging extras;
:mod:`qtws.core` and the non-Qt loops never import this module.

Type checkers see PyQt6's stubs (the gate's mypy runs against them); PySide6's names have
the same signatures where qtws uses them.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from typing import TYPE_CHECKING

__all__ = [
    "QT_API",
    "QAbstractEventDispatcher",
    "QAbstractItemView",
    "QAbstractTableModel",
    "QCheckBox",
    "QComboBox",
    "QCoreApplication",
    "QEventLoop",
    "QFileDialog",
    "QGuiApplication",
    "QHBoxLayout",
    "QHeaderView",
    "QLabel",
    "QLineEdit",
    "QMetaMethod",
    "QModelIndex",
    "QNetworkInformation",
    "QNetworkProxy",
    "QNetworkProxyFactory",
    "QNetworkProxyQuery",
    "QObject",
    "QPushButton",
    "QSocketNotifier",
    "QSortFilterProxyModel",
    "QTableView",
    "QThread",
    "QTimer",
    "QUrl",
    "QVBoxLayout",
    "QWidget",
    "Qt",
    "QtCore",
    "QtGui",
    "QtTest",
    "QtWidgets",
    "Signal",
    "Slot",
    "delete_now",
    "is_deleted",
]

# QT_API value -> the binding's top-level package.
BINDINGS = {"pyqt6": "PyQt6", "pyside6": "PySide6"}
EXTRAS_HINT = "install one: pip install 'qtws[pyqt6]' or pip install 'qtws[pyside6]'"


def choose_api(environ: dict[str, str] | os._Environ[str] | None = None) -> str:
    """The binding qtws uses (``"pyqt6"`` or ``"pyside6"``), by the rules of the module
    docstring; ``ImportError`` when ``QT_API`` is invalid or no binding is installed."""
    env = (os.environ if environ is None else environ).get("QT_API", "").strip().lower()
    if env:
        if env not in BINDINGS:
            raise ImportError(
                f"QT_API={env!r} is not a binding qtws supports: use 'pyqt6' or 'pyside6'"
            )
        if importlib.util.find_spec(BINDINGS[env]) is None:
            raise ImportError(f"QT_API={env!r} but {BINDINGS[env]} is not installed; {EXTRAS_HINT}")
        return env
    for api, package in BINDINGS.items():
        if sys.modules.get(f"{package}.QtCore") is not None:
            return api
    for api, package in BINDINGS.items():
        if importlib.util.find_spec(package) is not None:
            return api
    raise ImportError(f"qtws needs a Qt binding (PyQt6 or PySide6); {EXTRAS_HINT}")


#: The binding in use: ``"pyqt6"`` or ``"pyside6"``.
QT_API: str = choose_api()

if TYPE_CHECKING:
    from PyQt6 import QtCore, QtGui, QtTest, QtWidgets
    from PyQt6.QtCore import (
        QAbstractEventDispatcher,
        QAbstractTableModel,
        QCoreApplication,
        QEventLoop,
        QMetaMethod,
        QModelIndex,
        QObject,
        QSocketNotifier,
        QSortFilterProxyModel,
        Qt,
        QThread,
        QTimer,
        QUrl,
    )
    from PyQt6.QtCore import pyqtSignal as Signal
    from PyQt6.QtCore import pyqtSlot as Slot
    from PyQt6.QtGui import QGuiApplication
    from PyQt6.QtNetwork import (
        QNetworkInformation,
        QNetworkProxy,
        QNetworkProxyFactory,
        QNetworkProxyQuery,
    )
    from PyQt6.QtWidgets import (
        QAbstractItemView,
        QCheckBox,
        QComboBox,
        QFileDialog,
        QHBoxLayout,
        QHeaderView,
        QLabel,
        QLineEdit,
        QPushButton,
        QTableView,
        QVBoxLayout,
        QWidget,
    )

    def is_deleted(obj: object) -> bool:
        """Whether the C++ object behind ``obj`` was deleted."""

    def delete_now(obj: object) -> None:
        """Delete the C++ object behind ``obj`` at once (``sip.delete``/``shiboken6.delete``)."""

elif QT_API == "pyqt6":
    from PyQt6 import sip
    from PyQt6.QtCore import (
        QAbstractEventDispatcher,
        QCoreApplication,
        QEventLoop,
        QMetaMethod,
        QObject,
        QSocketNotifier,
        Qt,
        QThread,
        QTimer,
        QUrl,
    )
    from PyQt6.QtCore import pyqtSignal as Signal
    from PyQt6.QtCore import pyqtSlot as Slot

    is_deleted = sip.isdeleted
    delete_now = sip.delete
else:
    import shiboken6
    from PySide6.QtCore import (
        QAbstractEventDispatcher,
        QCoreApplication,
        QEventLoop,
        QMetaMethod,
        QObject,
        QSocketNotifier,
        Qt,
        QThread,
        QTimer,
        QUrl,
        Signal,
        Slot,
    )

    def is_deleted(obj: object) -> bool:
        """Whether the C++ object behind ``obj`` was deleted."""
        return not shiboken6.isValid(obj)

    delete_now = shiboken6.delete


# QtNetwork's names (proxy="system"), imported on first use: ~16 ms that `import qtws` and the
# GUI thread need not pay (the system-proxy lookup runs on a worker thread).
_NETWORK_NAMES = (
    "QNetworkProxy",
    "QNetworkProxyFactory",
    "QNetworkProxyQuery",
    "QNetworkInformation",  # reachability for reconnects (qtws.network)
)
# The binding's modules, also on first use (QtWidgets is heavy, QtTest rarely needed), for
# the demo and the tests: ``from qtws._qt import QtWidgets``.
_SUBMODULES = ("QtCore", "QtGui", "QtTest", "QtWidgets")


# The traffic inspector's names: QtWidgets only loads for an app that shows the inspector.
_TRAFFIC_NAMES = {
    **dict.fromkeys(("QAbstractTableModel", "QModelIndex", "QSortFilterProxyModel"), "QtCore"),
    "QGuiApplication": "QtGui",
    **dict.fromkeys(
        (
            "QAbstractItemView",
            "QCheckBox",
            "QComboBox",
            "QFileDialog",
            "QHBoxLayout",
            "QHeaderView",
            "QLabel",
            "QLineEdit",
            "QPushButton",
            "QTableView",
            "QVBoxLayout",
            "QWidget",
        ),
        "QtWidgets",
    ),
}


def __getattr__(name: str) -> object:
    module = _TRAFFIC_NAMES.get(name)
    if module is not None:
        value = getattr(importlib.import_module(f"{BINDINGS[QT_API]}.{module}"), name)
        globals()[name] = value
        return value
    if name in _NETWORK_NAMES:
        network = importlib.import_module(f"{BINDINGS[QT_API]}.QtNetwork")
        for each in _NETWORK_NAMES:
            globals()[each] = getattr(network, each)
        return globals()[name]
    if name in _SUBMODULES:
        submodule = importlib.import_module(f"{BINDINGS[QT_API]}.{name}")
        globals()[name] = submodule
        return submodule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
