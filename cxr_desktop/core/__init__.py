"""Qt-free, TensorFlow-free core shared by the GUI, the headless CLI, the trainer and the tests."""
