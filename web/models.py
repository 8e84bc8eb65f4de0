"""Tables the web app owns (answer feedback), beside Rasa's tracker store."""
from __future__ import annotations


from sqlalchemy import Column, DateTime, Integer, String, Text
from sqlalchemy.orm import declarative_base

from bot.db import utcnow

Base = declarative_base()



class Feedback(Base):
    """A visitor's 👍/👎 on one bot answer, kept with the conversation id."""

    __tablename__ = "answer_feedback"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(64), nullable=False, index=True)
    message_text = Column(Text, nullable=False)
    value = Column(Integer, nullable=False)  # +1 or -1
    created_at = Column(DateTime, nullable=False, default=utcnow)
