"""Retrain, evaluate, compare and export CXR Desktop model bundles."""
