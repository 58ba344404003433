"""The launch form's sections, each a small widget: the job picker, the resource section (fields made from
the runner's declared options), the parameter fields, the run's own fields and the config editor."""
