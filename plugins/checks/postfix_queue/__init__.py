"""check_postfix_queue: per-queue counts, bytes and oldest age of Postfix instances."""
