"""The Chinese edition of the course, from one source: ``python -m tools.i18n update|build|check|status``.

The English notebooks stay the source of code, outputs and structure; the Chinese text lives in
gettext catalogs, one per notebook (``i18n/zh_CN/NN-name.po``, one entry per markdown cell, keyed
by the cell's id), and ``build`` writes ``notebooks/zh_CN/NN-name.ipynb`` from the two. The code
cells and their outputs are the English notebook's, byte for byte, so a Chinese notebook needs no
run of its own. See :mod:`tools.i18n.layout` for the files, :mod:`tools.i18n.catalogs` for how a
changed English cell turns its entry fuzzy, :mod:`tools.i18n.editions` for what the Chinese
notebook holds beyond the translation, :mod:`tools.i18n.glossary` for the terms and the key-terms
tables, and :mod:`tools.i18n.messages` for the package's own messages (checkers, explorers).
"""

__all__: list[str] = []  # run it as a command; import the modules by name
