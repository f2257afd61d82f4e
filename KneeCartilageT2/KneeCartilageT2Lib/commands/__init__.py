"""Sub-commands of ``knee-t2``; each module registers one (see :mod:`..cli`)."""
