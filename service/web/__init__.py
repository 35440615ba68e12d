"""The web layer: the Flask request context, the JSON APIs' blueprints, problems, limits, logs and metrics, gunicorn.

One blueprint per audience: kiosks (``kiosk_api``, ``/api/v1``), the PMS
(``pms_api``, ``/pms/v1``), operations (``health``, ``openapi``, ``/metrics`` in
``telemetry``); the staff panel is ``service/panel``. The views parse the
request, call the domain packages (``checkin``, ``stays``, ``keyring``) in one
database transaction and answer.
"""
