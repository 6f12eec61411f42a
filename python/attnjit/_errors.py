"""attnjit's Python exceptions: one per C API status, all AttnjitError."""

from __future__ import annotations


class AttnjitError(RuntimeError):
    """A failed attnjit call. ``message`` is the text attnjit::Error carries;
    ``status`` the C API's status name (e.g. ATTNJIT_ERROR_INVALID_ARGUMENT);
    ``code`` its value."""

    def __init__(self, message: str, status: str = "ATTNJIT_ERROR_INTERNAL", code: int = 8):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class InvalidArgumentError(AttnjitError, ValueError):
    """Bad input; nothing was launched."""


class UnsupportedError(AttnjitError, NotImplementedError):
    """A valid request attnjit cannot serve (head size, arch, a backend not built yet)."""


class NoDeviceError(AttnjitError):
    """No CUDA driver or no device."""


_BY_CODE = {1: InvalidArgumentError, 2: UnsupportedError, 3: NoDeviceError}


def raise_status(code: int, status: str, message: str):
    raise _BY_CODE.get(code, AttnjitError)(message, status, code)


def invalid(message: str):
    """An InvalidArgumentError raised by the Python layer (torch-side checks)."""
    raise InvalidArgumentError(message, "ATTNJIT_ERROR_INVALID_ARGUMENT", 1)
