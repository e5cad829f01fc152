"""hdrtest: prove every C/C++ header compiles on its own, in every configuration that matters."""

__version__ = "0.1.0"
