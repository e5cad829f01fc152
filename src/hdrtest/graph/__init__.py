"""The tree's structure: includes, their graph, and what version control says changed."""
