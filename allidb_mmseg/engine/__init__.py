"""Training-loop parts (hooks, runner helpers) registered in mmseg registries."""
