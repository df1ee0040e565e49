"""The benchmark harness behind ``orps bench``: ORPS against baselines on public code benchmarks.

Tasks come from the shared benchmark folder (LBPP, HumanEval, MBPP and the EvalPlus sets). Every
method runs through the same engine pieces: one budgeted ``LLMClient`` per (task, method), the
same sandbox, the same prompts. The search sees only a task's visible tests; the final answer is
scored on held-out tests that never reach the model. Results are typed records written to a
resumable JSON file, summarised in a markdown report and a plot.
"""
