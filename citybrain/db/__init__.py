"""Database layer: the schema (``models``), migrations, connections and the embedded cluster."""
