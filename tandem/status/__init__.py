"""What a person sees about the sync: per-record status cards and the schedule of deployments."""
