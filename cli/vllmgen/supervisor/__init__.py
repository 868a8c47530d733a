"""`vllmgen serve`: the supervisor around vLLM (process, state, monitor, health server, loop)."""
