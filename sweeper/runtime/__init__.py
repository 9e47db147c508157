"""The worker runtime: what runs trials, in processes apart from the driver.

`worker.py` is a worker process's entry point and serves the trial channel; `function_trial.py`
and `command_trial.py` run the two kinds of trial; `trial_config.py` composes a trial's config;
`logs.py` redirects and reads its output; `process.py` ties child processes to their parent;
`link.py` is the worker's end of the trial channel as the runners see it.
"""
