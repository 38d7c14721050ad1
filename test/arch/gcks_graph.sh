#!/bin/sh
# The module graph of gcks/ runs one way: prints who calls and who includes whom, fails on a
# cycle or a call up the layers (test/arch/gcks_graph.py names them; gcks/README.md explains).
srcdir=${srcdir:-.}
exec python3 "$srcdir/test/arch/gcks_graph.py" --srcdir "$srcdir" --lib gcks/libgcks.a
