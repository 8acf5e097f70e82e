"""Several hub processes on one database: `bus` is Redis, `messages` what crosses it, `owner`
answers for the sessions this process runs, `relay` stands in for sessions run elsewhere."""
