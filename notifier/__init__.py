"""The notifier process (``python -m services.serve notifier``): ``worker`` delivers the outbox to staff,
expires unclaimed handoffs and folds the console's conversation summaries."""
