"""Wardgate: a security gateway for the APIs of AI applications."""

__version__ = "0.1.0"
