"""Files that survive crashes: checkpoints, atomic folders, caches, image files as they come.

- ``checkpoints``: the one checkpoint format, saved atomically, loaded with ``weights_only=True``.
- ``folders``: folders that appear whole or not at all.
- ``image_files``: open any image as RGB; find the files that cannot be read.
- ``cache``: caches named after a hash of their inputs, rebuilt when damaged.
"""
