"""What people look at: the sync status cards and the schedule view, on the command line and over HTTP."""
