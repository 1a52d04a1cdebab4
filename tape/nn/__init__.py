"""tape.nn: Module and Parameter (what research scripts and the seeds use)."""
from .parameter import Parameter
from .module import Module

__all__ = ["Module", "Parameter"]
