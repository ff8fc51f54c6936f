"""A realistic mock of Raydium and Meteora (venue.py, quoting from their pools) and of the chain they settle on
(chain.py). Import from the modules themselves: the market package they build on imports prices.py from here."""
