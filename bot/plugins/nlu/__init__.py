"""The NLU pipeline's own components (bot/config.yml) and the text normaliser they share."""
