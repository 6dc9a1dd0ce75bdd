"""``walcheck bench``: appends, recovery and the suite measured against floors
measured in the same run (``measure``)."""
