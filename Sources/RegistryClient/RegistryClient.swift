// The client side of the distribution API: a libcurl multi transfer engine, authentication and retries.
