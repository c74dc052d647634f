"""Real county data in: ``citybrain import`` and ``POST /imports/{layer}``.

The flow is one way: ``sources`` reads a file, ``mapping`` says which column is which,
``prepare`` parses and places the rows, ``checks`` and ``repair`` judge and mend them, and
``write`` puts them in PostGIS (matched by natural key, all or nothing); ``run`` drives it.
What each layer takes is its declaration in ``layers/`` (``citybrain.layers``), which the
exporter reads too.
"""
