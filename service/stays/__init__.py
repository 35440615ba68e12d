"""Stays: reservations from the PMS (API keys, CSV import), forgetting a stay (checkout with its receipt,
cancellation), data-subject requests and the retention purge. No Flask here.
"""
