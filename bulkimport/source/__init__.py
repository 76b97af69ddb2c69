"""The source side: the manifest, the walk over the folder, the PDF checks, and the planner."""
