"""Commands for operators and developers, run by hand or by make; no service imports them.

facts (``make facts``), train (``make train``), evaluate/ (``make eval``), migrate (the schema),
staff (accounts and API tokens, called as ``python -m bot.console``), retention (purging old conversations).
"""
