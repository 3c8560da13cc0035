"""What people and other programs see: reports, the terminal view, the dry-run plan,
spend, alerts, the secret redactor and logging.
"""
