"""Input channels (bot/credentials.yml): REST, socket.io (the widget) and WeChat, all behind the guard."""
