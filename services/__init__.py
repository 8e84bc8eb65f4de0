"""How the processes start: ``serve`` runs one service (every deployment goes through it), ``run`` is the
development launcher that runs them all (``make run``)."""
