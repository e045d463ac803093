"""OpenDMP: an open shared medical record platform."""

__version__ = "0.1.0"
