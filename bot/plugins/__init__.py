"""What Rasa loads by dotted path (config.yml, credentials.yml, endpoints.yml): runs inside the Rasa process."""
