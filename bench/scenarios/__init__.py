"""One module per scenario of the benchmark (issue #4): accept, engine, realistic, live."""
