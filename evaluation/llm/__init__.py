"""Everything that talks to, or stands in for, a grading LLM. Nothing here touches the ORM."""
