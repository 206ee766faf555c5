"""A throw-away X server for GUI tests: Xvfb on a free display, and a minimal X client.

The client speaks to libX11 through ``ctypes`` (no xdotool, xwininfo or python-xlib needed on
the machine): it lists the top-level windows with their titles and whether they are mapped,
grabs a window's pixels, and asks a window to close the way a window manager's close button
does (a ``WM_DELETE_WINDOW`` client message, so the application runs its ``closeEvent``).
Xlib's default error handler would end the whole test process on an X error (a window that
vanished between two calls, say); errors are recorded here instead.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

# The Debian package providing Xvfb, and the line a user without root runs.
XVFB_INSTALL = "sudo apt-get install -y --no-install-recommends xvfb"

_Window = ctypes.c_ulong
_Atom = ctypes.c_ulong
_IS_VIEWABLE = 2  # XWindowAttributes.map_state
_CLIENT_MESSAGE = 33
_Z_PIXMAP = 2


class _XWindowAttributes(ctypes.Structure):
    _fields_ = [
        ("x", ctypes.c_int), ("y", ctypes.c_int),
        ("width", ctypes.c_int), ("height", ctypes.c_int),
        ("border_width", ctypes.c_int), ("depth", ctypes.c_int),
        ("visual", ctypes.c_void_p), ("root", _Window),
        ("class_", ctypes.c_int), ("bit_gravity", ctypes.c_int),
        ("win_gravity", ctypes.c_int), ("backing_store", ctypes.c_int),
        ("backing_planes", ctypes.c_ulong), ("backing_pixel", ctypes.c_ulong),
        ("save_under", ctypes.c_int), ("colormap", ctypes.c_ulong),
        ("map_installed", ctypes.c_int), ("map_state", ctypes.c_int),
        ("all_event_masks", ctypes.c_long), ("your_event_mask", ctypes.c_long),
        ("do_not_propagate_mask", ctypes.c_long), ("override_redirect", ctypes.c_int),
        ("screen", ctypes.c_void_p),
    ]  # fmt: skip


class _XClientMessageEvent(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int), ("serial", ctypes.c_ulong),
        ("send_event", ctypes.c_int), ("display", ctypes.c_void_p),
        ("window", _Window), ("message_type", _Atom),
        ("format", ctypes.c_int), ("data", ctypes.c_long * 5),
    ]  # fmt: skip


class _XEvent(ctypes.Union):  # XEvent is a union padded to 24 longs
    _fields_ = [("client", _XClientMessageEvent), ("pad", ctypes.c_long * 24)]


class _XImage(ctypes.Structure):
    pass


_DESTROY = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(_XImage))
_XImage._fields_ = [
    ("width", ctypes.c_int), ("height", ctypes.c_int), ("xoffset", ctypes.c_int),
    ("format", ctypes.c_int), ("data", ctypes.c_void_p), ("byte_order", ctypes.c_int),
    ("bitmap_unit", ctypes.c_int), ("bitmap_bit_order", ctypes.c_int),
    ("bitmap_pad", ctypes.c_int), ("depth", ctypes.c_int), ("bytes_per_line", ctypes.c_int),
    ("bits_per_pixel", ctypes.c_int), ("red_mask", ctypes.c_ulong),
    ("green_mask", ctypes.c_ulong), ("blue_mask", ctypes.c_ulong), ("obdata", ctypes.c_void_p),
    ("create_image", ctypes.c_void_p), ("destroy_image", _DESTROY),
]  # fmt: skip


class _XErrorEvent(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int), ("display", ctypes.c_void_p), ("resourceid", ctypes.c_ulong),
        ("serial", ctypes.c_ulong), ("error_code", ctypes.c_ubyte),
        ("request_code", ctypes.c_ubyte), ("minor_code", ctypes.c_ubyte),
    ]  # fmt: skip


_ERROR_HANDLER = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(_XErrorEvent))


@dataclass(frozen=True)
class TopLevel:
    """A top-level window: its X id, title, size and whether it is mapped and viewable."""

    id: int
    title: str
    width: int
    height: int
    viewable: bool


class XClient:
    """One connection to an X display (see the module docstring)."""

    def __init__(self, display: str) -> None:
        name = ctypes.util.find_library("X11") or "libX11.so.6"
        x = self._x = ctypes.CDLL(name)
        x.XOpenDisplay.restype = ctypes.c_void_p
        x.XOpenDisplay.argtypes = [ctypes.c_char_p]
        x.XDefaultRootWindow.restype = _Window
        x.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
        x.XQueryTree.argtypes = [ctypes.c_void_p, _Window, ctypes.POINTER(_Window),
                                 ctypes.POINTER(_Window),
                                 ctypes.POINTER(ctypes.POINTER(_Window)),
                                 ctypes.POINTER(ctypes.c_uint)]  # fmt: skip
        x.XGetWindowProperty.argtypes = [
            ctypes.c_void_p, _Window, _Atom, ctypes.c_long, ctypes.c_long, ctypes.c_int,
            _Atom, ctypes.POINTER(_Atom), ctypes.POINTER(ctypes.c_int),
            ctypes.POINTER(ctypes.c_ulong), ctypes.POINTER(ctypes.c_ulong),
            ctypes.POINTER(ctypes.c_void_p),
        ]  # fmt: skip
        x.XFree.argtypes = [ctypes.c_void_p]
        x.XGetWindowAttributes.argtypes = [ctypes.c_void_p, _Window,
                                           ctypes.POINTER(_XWindowAttributes)]  # fmt: skip
        x.XInternAtom.restype = _Atom
        x.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        x.XSendEvent.argtypes = [ctypes.c_void_p, _Window, ctypes.c_int, ctypes.c_long,
                                 ctypes.POINTER(_XEvent)]  # fmt: skip
        x.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
        x.XGetImage.restype = ctypes.POINTER(_XImage)
        x.XGetImage.argtypes = [ctypes.c_void_p, _Window, ctypes.c_int, ctypes.c_int,
                                ctypes.c_uint, ctypes.c_uint, ctypes.c_ulong,
                                ctypes.c_int]  # fmt: skip
        x.XCloseDisplay.argtypes = [ctypes.c_void_p]
        self.errors: list[int] = []  # X error codes seen (e.g. 3, BadWindow)

        def on_error(_display: int, event: ctypes._Pointer[_XErrorEvent]) -> int:
            self.errors.append(event.contents.error_code)
            return 0

        self._on_error = _ERROR_HANDLER(on_error)  # kept: Xlib holds only the pointer
        x.XSetErrorHandler(self._on_error)
        self._dpy = x.XOpenDisplay(display.encode())
        if not self._dpy:
            raise OSError(f"cannot open X display {display}")
        self._root = x.XDefaultRootWindow(self._dpy)

    def close(self) -> None:
        if self._dpy:
            self._x.XCloseDisplay(self._dpy)
            self._dpy = None

    def windows(self) -> list[TopLevel]:
        """The root window's children that have a title (Qt's top-levels, with no WM)."""
        x, dpy = self._x, self._dpy
        root, parent = _Window(), _Window()
        children = ctypes.POINTER(_Window)()
        count = ctypes.c_uint()
        if not x.XQueryTree(dpy, self._root, root, parent, children, count):
            return []
        ids = [children[i] for i in range(count.value)]
        if children:
            x.XFree(children)
        found = []
        for wid in ids:
            title = self._text(wid, b"_NET_WM_NAME") or self._text(wid, b"WM_NAME")
            attrs = _XWindowAttributes()
            if title is None or not x.XGetWindowAttributes(dpy, wid, attrs):
                continue
            viewable = attrs.map_state == _IS_VIEWABLE
            found.append(TopLevel(wid, title, attrs.width, attrs.height, viewable))
        return found

    def _text(self, window: int, name: bytes) -> str | None:
        """A window's 8-bit text property (Qt writes titles as UTF-8), None if unset."""
        x, dpy = self._x, self._dpy
        kind, fmt = _Atom(), ctypes.c_int()
        count, after, data = ctypes.c_ulong(), ctypes.c_ulong(), ctypes.c_void_p()
        atom = x.XInternAtom(dpy, name, 0)
        status = x.XGetWindowProperty(
            dpy, window, atom, 0, 4096, 0, 0, kind, fmt, count, after, data
        )  # 0: AnyPropertyType
        if status != 0 or not data.value:
            return None
        try:
            if fmt.value != 8 or not count.value:
                return None
            return ctypes.string_at(data.value, count.value).decode("utf-8", "replace")
        finally:
            x.XFree(data)

    def colours(self, window: TopLevel) -> int:
        """How many distinct pixel values the window shows (1: nothing painted yet)."""
        image = self._x.XGetImage(self._dpy, window.id, 0, 0, window.width, window.height,
                                  ctypes.c_ulong(-1).value, _Z_PIXMAP)  # fmt: skip
        if not image:
            return 0
        try:
            img = image.contents
            data = ctypes.string_at(img.data, img.bytes_per_line * img.height)
            step = max(1, img.bits_per_pixel // 8)
            return len({data[i : i + step] for i in range(0, len(data), step * 7)})
        finally:
            image.contents.destroy_image(image)

    def request_close(self, window: TopLevel) -> None:
        """What a window manager's close button sends: WM_PROTOCOLS / WM_DELETE_WINDOW."""
        x, dpy = self._x, self._dpy
        event = _XEvent()
        event.client.type = _CLIENT_MESSAGE
        event.client.window = window.id
        event.client.message_type = x.XInternAtom(dpy, b"WM_PROTOCOLS", 0)
        event.client.format = 32
        event.client.data[0] = x.XInternAtom(dpy, b"WM_DELETE_WINDOW", 0)
        event.client.data[1] = 0  # CurrentTime
        x.XSendEvent(dpy, window.id, 0, 0, event)
        x.XSync(dpy, 0)


@contextmanager
def xvfb(size: str = "1280x800x24") -> Iterator[str]:
    """Start Xvfb on a display it finds free (``-displayfd``); yield ``":N"``; stop it."""
    binary = shutil.which("Xvfb")
    if binary is None:
        raise FileNotFoundError(f"Xvfb is not installed: {XVFB_INSTALL}")
    # Its warnings go to a file, read only if it fails to start.
    with tempfile.TemporaryFile() as log:
        read, write = os.pipe()
        cmd = [binary, "-displayfd", str(write), "-screen", "0", size, "-nolisten", "tcp"]
        proc = subprocess.Popen(cmd, pass_fds=[write], stdout=log, stderr=log)
        os.close(write)
        try:
            with os.fdopen(read) as pipe:
                number = pipe.readline().strip()  # written once the server accepts clients
            if not number:
                proc.wait(timeout=10)
                log.seek(0)
                raise OSError(f"Xvfb did not start: {log.read().decode(errors='replace')[-500:]}")
            yield f":{number}"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
