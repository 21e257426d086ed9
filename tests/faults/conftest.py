"""The GUI fixtures (a real window with private settings) for the fault tests that need the window."""

from tests.gui.conftest import make_window, private_user_folders, settings_file

__all__ = ["make_window", "private_user_folders", "settings_file"]
