"""networkx peer: connected components of the identity-edge workload.

The edge list is read once (untimed); the timer covers building the graph from the edges and enumerating its
connected components, as Rapport's stitch builds its union-find from the same edges.
"""

import csv
import time

import networkx


def read_edges(path):
    """The (a, b) pairs of an edge file with header a,b."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        next(reader)
        return [(a, b) for a, b in reader]


class NetworkxPeer:
    """Holds the edge list in memory."""

    def __init__(self, edges_file):
        self.edges = read_edges(edges_file)
        self.version = networkx.__version__

    def stitch(self):
        """Graph(edges) + connected_components; returns the number of components."""
        start = time.perf_counter()
        graph = networkx.Graph()
        graph.add_edges_from(self.edges)
        components = sum(1 for _ in networkx.connected_components(graph))
        return time.perf_counter() - start, components
