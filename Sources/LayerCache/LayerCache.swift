// Layer unpacking (whiteouts, escape safety, diffID checks) into a chainID-keyed cache.
