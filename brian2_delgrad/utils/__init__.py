"""Settings, argument checks, threads, memory estimates, atomic storage, notices."""
