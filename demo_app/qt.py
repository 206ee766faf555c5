"""The demos' Qt names, from the binding qtws uses (``qtws.QT_API``: PyQt6 or PySide6).

The demos import Qt only from here, so both run under either binding (``QT_API=pyside6``
picks PySide6, as it does for qtws).  Signals are ``Signal`` (PyQt6's ``pyqtSignal``); the
other names are the same classes in both bindings.  Type checkers see PyQt6's stubs.
"""

from __future__ import annotations

from qtws._qt import QT_API, QtCore, QtGui, QtTest, QtWidgets, Signal

QAbstractTableModel = QtCore.QAbstractTableModel
QBuffer = QtCore.QBuffer
QByteArray = QtCore.QByteArray
QEventLoop = QtCore.QEventLoop
QIODevice = QtCore.QIODevice
QItemSelection = QtCore.QItemSelection
QMimeData = QtCore.QMimeData
QModelIndex = QtCore.QModelIndex
QObject = QtCore.QObject
QPersistentModelIndex = QtCore.QPersistentModelIndex
QPointF = QtCore.QPointF
QRectF = QtCore.QRectF
QSize = QtCore.QSize
Qt = QtCore.Qt
QTimer = QtCore.QTimer
QUrl = QtCore.QUrl

QAction = QtGui.QAction
QCloseEvent = QtGui.QCloseEvent
QColor = QtGui.QColor
QDragEnterEvent = QtGui.QDragEnterEvent
QDropEvent = QtGui.QDropEvent
QFont = QtGui.QFont
QFontDatabase = QtGui.QFontDatabase
QFontMetricsF = QtGui.QFontMetricsF
QImage = QtGui.QImage
QPainter = QtGui.QPainter
QPaintEvent = QtGui.QPaintEvent
QPen = QtGui.QPen
QPolygonF = QtGui.QPolygonF
QTextBlockFormat = QtGui.QTextBlockFormat
QTextCharFormat = QtGui.QTextCharFormat
QTextCursor = QtGui.QTextCursor
QTextDocument = QtGui.QTextDocument
QTextImageFormat = QtGui.QTextImageFormat

QAbstractItemView = QtWidgets.QAbstractItemView
QApplication = QtWidgets.QApplication
QFileDialog = QtWidgets.QFileDialog
QFrame = QtWidgets.QFrame
QHBoxLayout = QtWidgets.QHBoxLayout
QHeaderView = QtWidgets.QHeaderView
QLabel = QtWidgets.QLabel
QLineEdit = QtWidgets.QLineEdit
QListWidget = QtWidgets.QListWidget
QListWidgetItem = QtWidgets.QListWidgetItem
QMainWindow = QtWidgets.QMainWindow
QMenu = QtWidgets.QMenu
QProgressBar = QtWidgets.QProgressBar
QPushButton = QtWidgets.QPushButton
QSplitter = QtWidgets.QSplitter
QStatusBar = QtWidgets.QStatusBar
QTableView = QtWidgets.QTableView
QTextBrowser = QtWidgets.QTextBrowser
QVBoxLayout = QtWidgets.QVBoxLayout
QWidget = QtWidgets.QWidget

QTest = QtTest.QTest

__all__ = [
    "QT_API",
    "QAbstractItemView",
    "QAbstractTableModel",
    "QAction",
    "QApplication",
    "QBuffer",
    "QByteArray",
    "QCloseEvent",
    "QColor",
    "QDragEnterEvent",
    "QDropEvent",
    "QEventLoop",
    "QFileDialog",
    "QFont",
    "QFontDatabase",
    "QFontMetricsF",
    "QFrame",
    "QHBoxLayout",
    "QHeaderView",
    "QIODevice",
    "QImage",
    "QItemSelection",
    "QLabel",
    "QLineEdit",
    "QListWidget",
    "QListWidgetItem",
    "QMainWindow",
    "QMenu",
    "QMimeData",
    "QModelIndex",
    "QObject",
    "QPaintEvent",
    "QPainter",
    "QPen",
    "QPersistentModelIndex",
    "QPointF",
    "QPolygonF",
    "QProgressBar",
    "QPushButton",
    "QRectF",
    "QSize",
    "QSplitter",
    "QStatusBar",
    "QTableView",
    "QTest",
    "QTextBlockFormat",
    "QTextBrowser",
    "QTextCharFormat",
    "QTextCursor",
    "QTextDocument",
    "QTextImageFormat",
    "QTimer",
    "QUrl",
    "QVBoxLayout",
    "QWidget",
    "Qt",
    "Signal",
]
