"""`bulkimport reconcile`: the archive compared with Procore's drawing log."""
