"""The data layer: one module per aggregate, tables and query functions taking ``session=``.

Used by every process (Rasa, the action server, the web app, the notifier and the commands).
"""
