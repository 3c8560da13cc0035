"""The typed core every layer above shares: statuses, results, the report, the observer."""
