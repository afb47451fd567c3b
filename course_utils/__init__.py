"""Helpers for the course's notebooks.

Each module holds one idea and is imported by name, for example::

    from course_utils.env import get_device, pick
    from course_utils.lessons.conv import conv_output_size

Importing the package itself is cheap: nothing heavy is loaded until a module is.
"""

__version__ = "0.1.0"
