"""Photos from the field: what a sent photo must be and what is kept of it (``image``), and
where the kept bytes live (``store``: by their SHA-256, on the file system by default)."""
