"""The only package that imports TensorFlow (lazily, inside functions)."""
