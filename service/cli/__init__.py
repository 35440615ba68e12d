"""The service's commands (``lethe serve``, ``db``, ``device``, ``integration``, ``stay``, ``reservations``, ``purge``,
``audit``, ``keys``, ``receipt``, ``staff``), registered on the ``lethe`` command by ``lethe/cli.py``.
"""
