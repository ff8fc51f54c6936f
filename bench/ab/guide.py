"""The A/B mode's section of BENCHMARKS.md (bench/report.py writes it into every regenerated file)."""

GUIDE = """## A/B: two commits side by side

Absolute numbers on this shared machine vary by ±30 % between runs and do not carry across machines, so a
regression gate compares two commits side by side in one session:

    python -m bench --ab <git-ref> [--pairs 3] [--only engine,accept] [--quick]

- **What runs.** The ref is checked out (detached) into a git worktree of its own, `build/ab/<short-sha>/`,
  reused while it is at that commit and clean; the working tree is never touched. Each selected scenario
  (accept, engine, realistic, live, costs: all five by default, `--quick` leaves out costs as a quick run
  does; snipers and resting when asked for, against a ref that has them) runs `--pairs` times on each side, alternating which side goes first (A B, B A, A B, …) so a drift
  in the machine's load favours neither. A is the ref, B the working tree with its uncommitted changes.
- **What differs.** Only the engine. Every `api`, `worker` and `migrate` process of a side is
  `python -m order_engine.app.cli` started with `PYTHONPATH=<side>/src:<side>` and its working directory
  at `<side>`, so it imports that side's `order_engine` (and, for the cost count, that side's
  `bench.instrumented` wrapper). Each side migrates a template database with its own code (schemas differ
  between commits), every run gets a fresh copy of it and a key prefix and queue name of its own, and the
  realistic scenario recomputes the mock's send times in a process on that side's code. Before any run,
  the session checks that each side resolves `order_engine` to its own `src/` (the JSON records where).
- **What is shared.** The bench driver, the working tree's `bench/` for both sides (load clients,
  measuring, reporting); the Python interpreter and its installed packages (a ref that needs other
  dependencies needs them installed); one PostgreSQL and one Redis server (the embedded ones unless
  `DATABASE_URL`/`REDIS_URL` are set; a full engine run needs ~250 PostgreSQL connections at its 2 API + 2
  worker × c50 step, which the embedded server is given and a default server's 100 are not).
- **What is compared.** engine: orders/s and the API's and the worker's CPU ms per order (the process
  group's CPU seconds over the batch ÷ its orders), per configuration; accept: p50, p99 and the API's CPU ms
  per request at one offered rate for every run (the lowest knee among them), the knee, and in a full run
  the 15 s hold at 1,000/s; realistic: the engine's overhead p50/p99; live: publish → client p50/p99 and
  KB per idle WebSocket for the rounds of 100 subscribers or more; costs: PostgreSQL round trips and
  Redis commands per order; snipers: how long one launch's snipers take to finish, and launch → first
  sniper routing (median, slowest); resting: move → `triggered` p50/p99 for one limit among the resting
  ones, the move crossing a tenth of them → the last `triggered`, the expiry second → the last `expired`,
  and the watcher's CPU per uneventful pool change.
- **Output.** The table on stdout; `build/bench/ab-<time>.json` (both commits, the CPU model, the command,
  every run's full result, the rows); `build/bench/ab-<time>.md`, a `###` section to paste into the
  Analysis section below, the one part of this file a rerun of `make bench` keeps.
- **Reading it.** Per metric: A's and B's median over the pairs, each pair's B/A, the median B/A and its
  spread (min–max), which way is better (↑ higher, ↓ lower) and whether every pair agrees (`B better in
  all 3`, `B worse in all 3`, `mixed`). B/A is B ÷ A whatever the direction: 0.80 is 20 % less throughput,
  or 20 % less CPU per order. Trust a difference when every pair agrees and the median is outside ±10 %;
  a spread that straddles 1 is noise. The last line gives each run's `other` CPU (the machine's use outside
  the benchmark): a pair where it differs a lot is suspect. `--ab HEAD` on a clean tree compares the code
  with itself and shows the noise of the moment. `--quick` batches are small (engine N ≤ 150, accept steps
  of 1 s): a smoke test that nothing halved, not a measurement.
- **Exit status.** Non-zero with the reason when the ref does not exist or the worktree cannot be made,
  and, after the report, when a run failed (its pair then has no ratio for that scenario; the JSON holds
  the traceback).
"""
