"""`python -m bench --ab <git-ref>`: the selected scenarios alternately on a ref (A) and the working tree (B)."""
