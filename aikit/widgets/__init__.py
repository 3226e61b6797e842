"""Thin ipywidgets views over aikit's plain objects (needs ``aikit[notebook]``).

Never imported by ``aikit`` or ``aikit.auth``; import the widget you need:

>>> from aikit.widgets.auth import LoginPanel, SecretPrompt, DeviceCodeView   # doctest: +SKIP
"""
