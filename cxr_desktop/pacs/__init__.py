"""DICOM networking: receive films from a PACS, score them, send structured results back.

Qt-free (an import contract keeps it so): the ``listen`` command and the GUI's "Open from PACS"
dialog both build on it. Scoring goes through ``cxr_desktop.core.scoring`` like everything else.
"""
