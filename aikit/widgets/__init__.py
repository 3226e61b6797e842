"""Thin ipywidgets views over aikit's plain objects (needs ``aikit[notebook]``).

Nothing below imports them: ``aikit.auth`` asks for credentials through a prompter that
:mod:`aikit.widgets.auth` registers (the top-level ``aikit`` package imports it only when a live kernel
must show a password box). Import the widget you need:

>>> from aikit.widgets.auth import LoginPanel, SecretPrompt, DeviceCodeView   # doctest: +SKIP
"""
