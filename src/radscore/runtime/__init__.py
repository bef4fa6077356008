"""What runs underneath the science: atomic files, the result cache, executors, progress."""
