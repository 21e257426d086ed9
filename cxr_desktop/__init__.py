"""CXR Desktop: offline decision support for chest radiographs."""

__version__ = "0.1.0"
