"""Pictures of specs: Graphviz drawings with shapes on the edges and costs in the boxes (``nascomp draw``)."""

from nascomp.viz.draw import FORMATS, INPUT_NODE, INSTALL_HINT, OUTPUT_NODE, dot_available, draw, to_graph

__all__ = ["draw", "to_graph", "dot_available", "FORMATS", "INPUT_NODE", "OUTPUT_NODE", "INSTALL_HINT"]
