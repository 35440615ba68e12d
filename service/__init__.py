"""The verification service: a Flask application built by :func:`service.app.create_app`.

Importing this package builds nothing; matching, keyring, reservations, check-in
and audit are plain modules usable from the command line and jobs.
"""
