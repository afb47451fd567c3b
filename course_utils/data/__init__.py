"""Where images come from: your folder, a download, or a set generated offline.

- ``sources``: the one fallback pattern (your folder → download → generated) and its banner.
- ``digits``: MNIST or generated digits (05, 07).
- ``flowers``: flower folders in the notes' layout, numbered safely (06–08).
- ``synthetic_flowers``: the offline default flowers, drawn locally.
- ``transforms``: the notes' augmentation and the evaluation transform.
"""
